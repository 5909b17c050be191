// raftLogger: raft's log calls land on the pino logger at the same level, with the object and
// message, and the child's bindings (the group's ids) on every line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { raftLogger } from '../../raft-host/index.js';

describe('raftLogger', () => {
  it('forwards debug, info and warn with bindings', () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const log = pino({ level: 'debug' }, sink).child({ regionId: 7 });
    const raft = raftLogger(log);
    raft.debug({ term: 1 }, 'd');
    raft.info({ term: 2 }, 'i');
    raft.warn({ term: 3 }, 'w');
    assert.deepEqual(lines.map((l) => [l.level, l.msg, l.term, l.regionId]), [[20, 'd', 1, 7], [30, 'i', 2, 7], [40, 'w', 3, 7]]);
  });
});

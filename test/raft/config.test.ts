// Config validation names the field and the rule in words; limits relate as documented.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, makeConfig, RAFT_ENTRY_BYTES_MAX, APPEND_INFLIGHT_BYTES_MAX, UNCOMMITTED_BYTES_MAX } from '../../raft/index.js';
import { createRng } from '../../common/pure.js';

const base = () => ({ id: 1, storage: new MemoryStorage(), rng: createRng(1) });

describe('raft config', () => {
  it('rejects an election tick not greater than the heartbeat tick', () => {
    assert.throws(() => makeConfig({ ...base(), electionTick: 2, heartbeatTick: 2 }), /electionTick must be greater than heartbeatTick/);
    assert.doesNotThrow(() => makeConfig({ ...base(), electionTick: 3, heartbeatTick: 2 }));
  });

  it('rejects id 0 and non-integers', () => {
    assert.throws(() => makeConfig({ ...base(), id: 0 }), /id must be a positive safe integer/);
    assert.throws(() => makeConfig({ ...base(), heartbeatTick: 1.5 }), /heartbeatTick/);
  });

  it('rejects an uncommitted limit that cannot admit one maximal entry', () => {
    assert.throws(() => makeConfig({ ...base(), maxEntryBytes: 100, maxUncommittedEntriesSize: 99 }), /maxUncommittedEntriesSize must be 0 or at least maxEntryBytes/);
    assert.doesNotThrow(() => makeConfig({ ...base(), maxEntryBytes: 100, maxUncommittedEntriesSize: 100 }));
  });

  it('rejects an inflight byte window below one message', () => {
    assert.throws(() => makeConfig({ ...base(), maxSizePerMsg: 1000, maxInflightBytes: 999 }), /maxInflightBytes/);
    assert.throws(() => makeConfig({ ...base(), maxInflightMsgs: 0 }), /maxInflightMsgs must be greater than 0/);
  });

  it('default limits relate as documented', () => {
    assert.ok(APPEND_INFLIGHT_BYTES_MAX >= RAFT_ENTRY_BYTES_MAX);
    assert.ok(UNCOMMITTED_BYTES_MAX >= RAFT_ENTRY_BYTES_MAX);
    assert.doesNotThrow(() => makeConfig(base()));
  });
});

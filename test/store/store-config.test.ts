// flotilla-store's configuration (store/config.ts): every default is valid; host:port and labels
// parse exactly (judged against a reference over generated text), and the cross-field rules refuse
// at their boundaries — each refusal one line naming the flag.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../../common/index.js';
import { loadStoreConfig, parseHostPort, parseLabels } from '../../store/config.js';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.field;
  }
  return 'accepted';
}

async function refusalOf(argv: readonly string[]): Promise<string> {
  try {
    await loadStoreConfig(argv, {});
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    return err.field;
  }
  return 'accepted';
}

describe('store config', () => {
  it('host:port: a host (name, IPv4, bracketed IPv6) and a port 0..65535, an optional scheme and trailing slash', () => {
    const hostArb = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6().map((h) => `[${h}]`), fc.constant('localhost'));
    fc.assert(fc.property(hostArb, fc.integer({ min: 0, max: 70_000 }), fc.constantFrom('', 'http://', 'grpc://'), fc.constantFrom('', '/'), (host, port, scheme, slash) => {
      const text = `${scheme}${host}:${port}${slash}`;
      if (port <= 65535) assert.deepEqual(parseHostPort(text, '--addr'), { host, port, address: `${host}:${port}` }, text);
      else assert.equal(refusal(() => parseHostPort(text, '--addr')), '--addr', text);
    }), { numRuns: 1000 });
    for (const bad of ['', 'host', ':80', 'host:', 'host:port', 'host:123456', 'a b:80', 'host:80:90', 'fe80::1:80', 'host/x:80', '[]:80', '[::1]', '[::1]80', '[g::1]:80']) {
      assert.equal(refusal(() => parseHostPort(bad, '--pd')), '--pd', JSON.stringify(bad));
    }
  });

  it('labels: key=value items with distinct non-empty keys and non-empty values', () => {
    const itemArb = fc.tuple(fc.constantFrom('zone', 'host', 'rack', 'disk', ''), fc.constantFrom('z1', 'h=2', '', 'x'));
    fc.assert(fc.property(fc.array(itemArb, { maxLength: 5 }), (items) => {
      const texts = items.map(([k, v]) => `${k}=${v}`);
      const keys = items.map(([k]) => k);
      const isValid = items.every(([k, v]) => k !== '' && v !== '') && new Set(keys).size === keys.length;
      if (isValid) assert.deepEqual(parseLabels(texts), Object.fromEntries(items), texts.join(','));
      else assert.equal(refusal(() => parseLabels(texts)), '--labels', texts.join(','));
    }), { numRuns: 500 });
    assert.equal(refusal(() => parseLabels(['zone'])), '--labels');
  });

  it('defaults are valid; the cross-field rules refuse exactly at their boundary', async () => {
    const config = await loadStoreConfig([], {});
    assert.ok(config.raftElectionTicks > config.raftHeartbeatTicks);
    assert.ok(config.raftLogGcHardCountLimit > config.raftLogGcCountLimit);
    assert.equal(await refusalOf(['--raft-election-ticks', '4', '--raft-heartbeat-ticks', '3']), 'accepted');
    assert.equal(await refusalOf(['--raft-election-ticks', '3', '--raft-heartbeat-ticks', '3']), '--raft-election-ticks');
    assert.equal(await refusalOf(['--raft-election-ticks', '2', '--raft-heartbeat-ticks', '3']), '--raft-election-ticks');
    assert.equal(await refusalOf(['--raft-log-gc-count-limit', '9', '--raft-log-gc-hard-count-limit', '10']), 'accepted');
    assert.equal(await refusalOf(['--raft-log-gc-count-limit', '10', '--raft-log-gc-hard-count-limit', '10']), '--raft-log-gc-hard-count-limit');
    assert.equal(await refusalOf(['--addr', '127.0.0.1:65536']), '--addr');
    assert.equal(await refusalOf(['--advertise-addr', 'nowhere']), '--advertise-addr');
    assert.equal(await refusalOf(['--status-addr', '127.0.0.1']), '--status-addr');
    assert.equal(await refusalOf(['--pd', '127.0.0.1:2379,bad']), '--pd');
    assert.equal(await refusalOf(['--labels', 'zone=z1,zone=z2']), '--labels');
  });
});

// Every named limit of txn/limits.ts at N (accepted) and N + 1 (typed error).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryEngine } from '../../store/index.js';
import {
  commitCommand, gcCommand, GC_KEYS_PER_BATCH_MAX, KEY_BYTES_MAX, KEYS_PER_COMMAND_MAX, LOCK_TTL_MS_MAX, type Mutation, prewriteCommand,
  scanCommand, scanLockCommand, SCAN_LIMIT_MAX, SCAN_LOCK_LIMIT_MAX, type Snapshot, txnHeartBeatCommand, VALUE_BYTES_MAX,
} from '../../txn/index.js';

async function withSnapshot<T>(fn: (s: Snapshot) => Promise<T>): Promise<T> {
  const engine = new MemoryEngine();
  const s = await engine.snapshot();
  try {
    return await fn(s);
  } finally {
    await engine.close();
  }
}

/** The error code of a command output or a read result, or 'ok'. */
function code(outcome: unknown): string {
  const inner: unknown = typeof outcome === 'object' && outcome !== null && 'result' in outcome ? outcome.result : outcome;
  const r = inner as { kind: string; code?: string };
  return r.kind === 'error' ? (r.code ?? '?') : 'ok';
}

const prewrite = (s: Snapshot, mutations: Mutation[], lockTtlMs = 1000) =>
  prewriteCommand(s, { mutations, primary: mutations[0]!.key, startTs: 10n, lockTtlMs, txnSize: mutations.length, minCommitTs: 0n });

describe('limits (N ok, N + 1 refused)', () => {
  it('key bytes', () => withSnapshot(async (s) => {
    assert.equal(code(await prewrite(s, [{ kind: 'put', key: Buffer.alloc(KEY_BYTES_MAX, 1), value: Buffer.from('v') }])), 'ok');
    assert.equal(code(await prewrite(s, [{ kind: 'put', key: Buffer.alloc(KEY_BYTES_MAX + 1, 1), value: Buffer.from('v') }])), 'LimitExceeded');
    assert.equal(code(await prewrite(s, [{ kind: 'put', key: Buffer.alloc(0), value: Buffer.from('v') }])), 'InvalidArgument');
  }));

  it('value bytes', () => withSnapshot(async (s) => {
    assert.equal(code(await prewrite(s, [{ kind: 'put', key: Buffer.from('k'), value: Buffer.alloc(VALUE_BYTES_MAX) }])), 'ok');
    assert.equal(code(await prewrite(s, [{ kind: 'put', key: Buffer.from('k'), value: Buffer.alloc(VALUE_BYTES_MAX + 1) }])), 'LimitExceeded');
  }));

  it('keys per command', () => withSnapshot(async (s) => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`k${i}`));
    assert.equal(code(await prewrite(s, keys(KEYS_PER_COMMAND_MAX).map((key) => ({ kind: 'lock' as const, key })))), 'ok');
    assert.equal(code(await prewrite(s, keys(KEYS_PER_COMMAND_MAX + 1).map((key) => ({ kind: 'lock' as const, key })))), 'LimitExceeded');
    assert.equal(code(await commitCommand(s, { keys: keys(KEYS_PER_COMMAND_MAX + 1), startTs: 1n, commitTs: 2n })), 'LimitExceeded');
    assert.equal(code(await commitCommand(s, { keys: [Buffer.from('a'), Buffer.from('a')], startTs: 1n, commitTs: 2n })), 'InvalidArgument');
  }));

  it('lock TTL', () => withSnapshot(async (s) => {
    const m: Mutation[] = [{ kind: 'lock', key: Buffer.from('k') }];
    assert.equal(code(await prewrite(s, m, LOCK_TTL_MS_MAX)), 'ok');
    assert.equal(code(await prewrite(s, m, LOCK_TTL_MS_MAX + 1)), 'LimitExceeded');
    // A heartbeat's advised TTL has the same bound (no lock here: past the check, it finds none).
    const heartBeat = (ttl: number) => txnHeartBeatCommand(s, { primary: Buffer.from('k'), startTs: 10n, adviseLockTtlMs: ttl });
    assert.ok(!['LimitExceeded', 'InvalidArgument'].includes(code(await heartBeat(LOCK_TTL_MS_MAX))), 'the limit itself passes the check');
    assert.equal(code(await heartBeat(LOCK_TTL_MS_MAX + 1)), 'LimitExceeded');
    assert.equal(code(await heartBeat(-1)), 'InvalidArgument');
    assert.equal(code(await heartBeat(1.5)), 'InvalidArgument');
  }));

  it('scan limit, scan-lock limit, gc batch', () => withSnapshot(async (s) => {
    const scan = (limit: number) => scanCommand(s, { startKey: Buffer.from(''), endKey: Buffer.from(''), readTs: 5n, limit, isReverse: false });
    assert.equal(code(await scan(SCAN_LIMIT_MAX)), 'ok');
    assert.equal(code(await scan(SCAN_LIMIT_MAX + 1)), 'LimitExceeded');
    assert.equal(code(await scan(0)), 'InvalidArgument');
    const scanLock = (limit: number) => scanLockCommand(s, { maxTs: 5n, startKey: Buffer.from(''), endKey: Buffer.from(''), limit });
    assert.equal(code(await scanLock(SCAN_LOCK_LIMIT_MAX)), 'ok');
    assert.equal(code(await scanLock(SCAN_LOCK_LIMIT_MAX + 1)), 'LimitExceeded');
    const gc = (keyLimit: number) => gcCommand(s, { safePoint: 5n, startKey: Buffer.from(''), endKey: Buffer.from(''), keyLimit });
    assert.equal(code(await gc(GC_KEYS_PER_BATCH_MAX)), 'ok');
    assert.equal(code(await gc(GC_KEYS_PER_BATCH_MAX + 1)), 'InvalidArgument');
  }));

  it('timestamps: start_ts 0 and inverted ranges are refused', () => withSnapshot(async (s) => {
    assert.equal(code(await prewriteCommand(s, { mutations: [{ kind: 'lock', key: Buffer.from('k') }], primary: Buffer.from('k'), startTs: 0n, lockTtlMs: 1, txnSize: 1, minCommitTs: 0n })), 'InvalidArgument');
    assert.equal(code(await scanCommand(s, { startKey: Buffer.from('b'), endKey: Buffer.from('a'), readTs: 5n, limit: 1, isReverse: false })), 'InvalidArgument');
  }));
});

// MvccWriteBuffer (txn/mvcc/write-buffer.ts) against a reference written from its contract: a
// command's modifications, applied as one engine batch, leave each record where its CF and key
// say, and later modifications of the same key win "as in a RocksDB write batch". No command of
// today writes one key twice in one buffer (held-back plants TA14 and TA15 — modifications
// reversed, repeats dropped — went unnoticed by every txn/ test for that reason), so the generator
// does little else: every kind of modification on a domain of two user keys (one a prefix of the
// other) and two timestamps, so puts and deletes of one key and slot follow each other in every
// order, in two batches (the second over what the first left). The engine's state, read back and
// decoded per CF, must equal a reference kept as plain maps of records. Both engines; fast-check
// with a fixed seed (FLOTILLA_PROPERTY_SEED replays another).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cfRangeOf, decodeDataKey, type Ts, U64_MAX } from '../../../common/index.js';
import {
  decodeLatest, decodeLockEntry, decodeWrite, encodeWrite, type LatestRecord, type Lock, MvccWriteBuffer, type Write,
} from '../../../txn/index.js';
import { type EngineKind, ENGINE_KINDS, openTestEngine } from '../helpers.js';

const SEED = Number(process.env['FLOTILLA_PROPERTY_SEED'] ?? '20261205');
const RUNS: Readonly<Record<EngineKind, number>> = { memory: 300, rocksdb: 120 };

/** Two user keys, one a prefix of the other (their encodings must not collide or interleave). */
const KEYS = ['k', 'k\x00'] as const;
/** Two slots, one at each end of the range (the write and default CFs order versions descending). */
const TSS: readonly Ts[] = [1n, U64_MAX - 1n];

type Op =
  | { readonly op: 'putLock'; readonly key: number; readonly lock: Lock }
  | { readonly op: 'unlock'; readonly key: number }
  | { readonly op: 'putWrite'; readonly key: number; readonly ts: number; readonly write: Write }
  | { readonly op: 'deleteWrite'; readonly key: number; readonly ts: number }
  | { readonly op: 'putLatest'; readonly key: number; readonly latest: LatestRecord; readonly isEncodedGiven: boolean }
  | { readonly op: 'deleteLatest'; readonly key: number }
  | { readonly op: 'putValue'; readonly key: number; readonly ts: number; readonly value: Buffer }
  | { readonly op: 'deleteValue'; readonly key: number; readonly ts: number };

const arbKeyIndex = fc.nat(KEYS.length - 1);
const arbTsIndex = fc.nat(TSS.length - 1);
const arbTs = fc.constantFrom<Ts>(1n, 2n, U64_MAX - 1n);
const arbBytes = fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a));
const arbLock: fc.Arbitrary<Lock> = fc.record({
  kind: fc.constantFrom('put' as const, 'delete' as const, 'lock' as const),
  primary: fc.constantFrom(...KEYS).map((s) => Buffer.from(s, 'latin1')),
  startTs: arbTs,
  ttlMs: fc.nat(3000),
  value: fc.option(arbBytes, { nil: null }),
  txnSize: fc.nat(10),
  minCommitTs: arbTs,
}).map(({ value, kind, ...rest }) => ({ ...rest, kind, shortValue: kind === 'put' ? value : null }));
const arbWrite: fc.Arbitrary<Write> = fc.record({
  kind: fc.constantFrom('put' as const, 'delete' as const, 'lock' as const, 'rollback' as const),
  startTs: arbTs,
  value: fc.option(arbBytes, { nil: null }),
  hasOverlappedRollback: fc.boolean(),
  isProtected: fc.boolean(),
}).map(({ value, kind, ...rest }) => ({ ...rest, kind, shortValue: kind === 'put' ? value : null }));
const arbLatest: fc.Arbitrary<LatestRecord> = fc.record({
  hasData: fc.boolean(),
  kind: fc.constantFrom('put' as const, 'delete' as const),
  startTs: arbTs,
  value: arbBytes,
  commitTs: arbTs,
  above: fc.constantFrom(0n, 1n),
}).map(({ hasData, kind, startTs, value, commitTs, above }) => ({
  data: hasData ? { commitTs, write: { kind, startTs, shortValue: kind === 'put' ? value : null, hasOverlappedRollback: false, isProtected: false } } : null,
  maxWriteTs: commitTs + (commitTs < U64_MAX ? above : 0n),
}));
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('putLock' as const), key: arbKeyIndex, lock: arbLock }),
  fc.record({ op: fc.constant('unlock' as const), key: arbKeyIndex }),
  fc.record({ op: fc.constant('putWrite' as const), key: arbKeyIndex, ts: arbTsIndex, write: arbWrite }),
  fc.record({ op: fc.constant('deleteWrite' as const), key: arbKeyIndex, ts: arbTsIndex }),
  fc.record({ op: fc.constant('putLatest' as const), key: arbKeyIndex, latest: arbLatest, isEncodedGiven: fc.boolean() }),
  fc.record({ op: fc.constant('deleteLatest' as const), key: arbKeyIndex }),
  fc.record({ op: fc.constant('putValue' as const), key: arbKeyIndex, ts: arbTsIndex, value: arbBytes }),
  fc.record({ op: fc.constant('deleteValue' as const), key: arbKeyIndex, ts: arbTsIndex }),
);
const arbBatch = fc.array(arbOp, { maxLength: 24 });

/** The reference: per CF, a map from "user key (hex)" or "user key (hex)@ts" to the record as canonical text. */
type State = Record<'lock' | 'write' | 'latest' | 'default', Map<string, string>>;
const emptyState = (): State => ({ lock: new Map(), write: new Map(), latest: new Map(), default: new Map() });

/** Canonical text of a record: fields sorted, bigints and buffers as text. */
function canon(v: unknown): string {
  const walk = (x: unknown): unknown => {
    if (typeof x === 'bigint') return `${x}n`;
    if (Buffer.isBuffer(x)) return `b:${x.toString('hex')}`;
    if (typeof x !== 'object' || x === null) return x;
    const o = x as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((key) => [key, walk(o[key])]));
  };
  return JSON.stringify(walk(v));
}
const slot = (user: Buffer, ts: Ts | null): string => (ts === null ? user.toString('hex') : `${user.toString('hex')}@${ts}`);

/** Applies one modification, in order: a put sets, a delete removes (the later one wins). */
function applyToReference(ref: State, user: Buffer, o: Op): void {
  switch (o.op) {
    case 'putLock': ref.lock.set(slot(user, null), canon(o.lock)); return;
    case 'unlock': ref.lock.delete(slot(user, null)); return;
    case 'putWrite': ref.write.set(slot(user, TSS[o.ts]!), canon(o.write)); return;
    case 'deleteWrite': ref.write.delete(slot(user, TSS[o.ts]!)); return;
    case 'putLatest': ref.latest.set(slot(user, null), canon(o.latest)); return;
    case 'deleteLatest': ref.latest.delete(slot(user, null)); return;
    case 'putValue': ref.default.set(slot(user, TSS[o.ts]!), canon(o.value)); return;
    case 'deleteValue': ref.default.delete(slot(user, TSS[o.ts]!)); return;
  }
}

/** Runs `o` on the buffer; a putWrite's returned bytes must be exactly that record's encoding. */
function applyToBuffer(buf: MvccWriteBuffer, user: Buffer, o: Op): void {
  switch (o.op) {
    case 'putLock': buf.putLock(user, o.lock); return;
    case 'unlock': buf.unlock(user); return;
    case 'putWrite': {
      const bytes = buf.putWrite(user, TSS[o.ts]!, o.write);
      assert.equal(canon(decodeWrite(bytes)), canon(o.write), 'putWrite returns the bytes of the record it put');
      return;
    }
    case 'deleteWrite': buf.deleteWrite(user, TSS[o.ts]!); return;
    case 'putLatest': {
      const data = o.latest.data;
      buf.putLatest(user, o.latest, o.isEncodedGiven && data !== null ? encodeWrite(data.write) : undefined);
      return;
    }
    case 'deleteLatest': buf.deleteLatest(user); return;
    case 'putValue': buf.putValue(user, TSS[o.ts]!, o.value); return;
    case 'deleteValue': buf.deleteValue(user, TSS[o.ts]!); return;
  }
}

describe('MvccWriteBuffer: the batch it builds, applied, against a reference of records', () => {
  for (const kind of ENGINE_KINDS) {
    it(`every modification kind, one key repeated in every order, later wins (${kind}, ${RUNS[kind]} cases)`, async () => {
      const engine = await openTestEngine(kind);
      let caseNo = 0;
      try {
        await fc.assert(fc.asyncProperty(arbBatch, arbBatch, async (first, second) => {
          // Each case on keys of its own prefix (one engine for all cases).
          const name = `c${String(caseNo++).padStart(6, '0')}`;
          const prefix = Buffer.from(`${name}/`, 'latin1');
          const prefixEnd = Buffer.from(`${name}0`, 'latin1'); // '0' follows '/'
          const userKey = (i: number): Buffer => Buffer.concat([prefix, Buffer.from(KEYS[i]!, 'latin1')]);
          const ref = emptyState();
          for (const batch of [first, second]) {
            const buf = new MvccWriteBuffer();
            for (const o of batch) {
              applyToBuffer(buf, userKey(o.key), o);
              applyToReference(ref, userKey(o.key), o);
            }
            assert.equal(buf.isEmpty, batch.length === 0);
            assert.equal(buf.modifications.length, batch.length, 'one modification per call, none merged or dropped');
            const bytes = buf.modifications.reduce((n, m) => n + m.key.length + (m.kind === 'put' ? m.value.length : 0), 0);
            assert.equal(buf.byteSize, bytes, 'byteSize: the keys and values of its modifications');
            await engine.engine.write(buf.modifications, { sync: false });
            const actual = await readBack(engine.engine, prefix, prefixEnd);
            for (const cf of ['lock', 'write', 'latest', 'default'] as const) {
              assert.deepEqual(sorted(actual[cf]), sorted(ref[cf]), `${cf} CF after the batch ${canon(batch)}`);
            }
          }
        }), { seed: SEED, numRuns: RUNS[kind] });
      } finally {
        await engine.cleanup();
      }
    });
  }
});

const sorted = (m: Map<string, string>): [string, string][] => [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

/** The engine's records of the case's keys, decoded per CF (a key in the wrong CF fails to decode or shows up there). */
async function readBack(engine: Awaited<ReturnType<typeof openTestEngine>>['engine'], start: Buffer, end: Buffer): Promise<State> {
  const out = emptyState();
  const snapshot = await engine.snapshot();
  try {
    for (const cf of ['lock', 'write', 'latest', 'default'] as const) {
      const range = cfRangeOf(cf, start, end);
      for (const entry of await snapshot.scan(range.start, range.end, { limit: 1000 })) {
        const decoded = decodeDataKey(entry.key);
        assert.equal(decoded.cf, cf);
        const at = slot(decoded.userKey, decoded.ts);
        if (cf === 'lock') out.lock.set(at, canon(decodeLockEntry(entry.value)));
        else if (cf === 'write') out.write.set(at, canon(decodeWrite(entry.value)));
        else if (cf === 'latest') out.latest.set(at, canon(decodeLatest(entry.value)));
        else out.default.set(at, canon(entry.value));
      }
    }
  } finally {
    await snapshot.release();
  }
  return out;
}

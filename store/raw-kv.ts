// The raw (non-transactional) API on one store: single-version keys in the raw CF, never mixed
// with transactional keys. Reads are linearizable (a lease read, or ReadIndex, before reading the
// leader's applied state). Writes go through raft: puts and deletes answer once committed —
// durable on a quorum, their apply certain — and a read or range delete first waits for those
// of its keys still applying (kv-writes.ts); compare-and-swap answers once applied. Every write
// takes its keys' latches so that compare-and-swap's read and write are atomic against every
// other raw write of the key.

import { cfRangeOf, decodeKey, FlotillaError, rawKey, type WriteOp } from '../common/index.js';
import type { kvrpcpb } from '../proto/index.js';
import type { KvRouting } from './kv-routing.js';
import type { KvWrites } from './kv-writes.js';
import type { Peer } from './peer.js';
import { encodeRawValue, hasTtl, liveRawValue } from './raw-value.js';

/** Keys deleted per raft command by RawDeleteRange (it is not atomic across chunks). */
export const DELETE_RANGE_CHUNK_KEYS = 1_000;

function ttlExpiry(ttlSeconds: string, nowMs: number): number {
  const ttl = Number(ttlSeconds);
  if (!Number.isSafeInteger(ttl) || ttl < 0) throw new FlotillaError('InvalidArgument', `ttl ${ttlSeconds} seconds is not valid`);
  return ttl === 0 ? 0 : nowMs + ttl * 1000;
}

/** Routing of a read: a follower or learner may serve it when the request asks for a replica read. */
const READ = { needsLeader: true, isRead: true } as const;
/** A raw replica read asks the leader for nothing but a read index (no ts, no one-phase commits). */
const RAW_REPLICA_SCOPE = { readTs: null, keys: [] } as const;

export class RawKv {
  constructor(private readonly routing: KvRouting, private readonly writes: KvWrites, private readonly nowMs: () => number = Date.now) {}

  /** A read's barrier: a leader's own, or a replica read's on a follower or learner (routed here only if asked for). */
  private async readBarrier(peer: Peer): Promise<void> {
    if (peer.isLeader) return this.writes.readBarrier(peer);
    const { version, confVer } = peer.region.epoch;
    await this.writes.readBarrier(peer, RAW_REPLICA_SCOPE);
    // Applying up to the read index may have split or merged the region away from the request.
    if (peer.region.epoch.version !== version || peer.region.epoch.confVer !== confVer) throw peer.epochNotMatch();
  }

  async get(req: kvrpcpb.RawGetRequest): Promise<kvrpcpb.RawGetResponse__Input> {
    const peer = this.routing.route(req.context, READ);
    this.routing.checkKey(peer, req.key);
    const key = rawKey(req.key);
    const blind = this.writes.blindWritesOn([key]);
    if (blind !== null) await blind;
    await this.readBarrier(peer);
    const value = liveRawValue(await this.writes.engine.get(key), this.nowMs());
    peer.countRead(1, value?.length ?? 0);
    return value === null ? { notFound: true } : { value };
  }

  async batchGet(req: kvrpcpb.RawBatchGetRequest): Promise<kvrpcpb.RawBatchGetResponse__Input> {
    const peer = this.routing.route(req.context, READ);
    this.routing.checkKeys(peer, req.keys);
    const keys = req.keys.map((k) => rawKey(k));
    const blind = this.writes.blindWritesOn(keys);
    if (blind !== null) await blind;
    await this.readBarrier(peer);
    const stored = await this.writes.engine.multiGet(keys);
    const now = this.nowMs();
    const pairs: kvrpcpb.KvPair__Input[] = [];
    for (let i = 0; i < req.keys.length; i++) {
      const value = liveRawValue(stored[i] ?? null, now);
      if (value !== null) pairs.push({ key: req.keys[i]!, value });
    }
    peer.countRead(req.keys.length, pairs.reduce((n, p) => n + (p.value as Buffer).length, 0));
    return { pairs };
  }

  async scan(req: kvrpcpb.RawScanRequest): Promise<kvrpcpb.RawScanResponse__Input> {
    const peer = this.routing.route(req.context, READ);
    this.routing.checkLimit(req.limit);
    const range = this.routing.clampRange(peer, req.startKey, req.endKey);
    const { start, end } = cfRangeOf('raw', range.start, range.end);
    const blind = this.writes.blindWritesIn(start, end);
    if (blind !== null) await blind;
    await this.readBarrier(peer);
    const kvs: kvrpcpb.KvPair__Input[] = [];
    const now = this.nowMs();
    const view = this.writes.engine.readView();
    {
      let lo = start;
      let hi = end;
      while (kvs.length < req.limit) {
        const want = req.limit - kvs.length;
        const batch = await view.scan(lo, hi, { limit: want, isReverse: req.reverse });
        for (const kv of batch) {
          const value = liveRawValue(kv.value, now);
          if (value === null) continue;
          kvs.push({ key: userKeyOfRaw(kv.key), value: req.keyOnly ? Buffer.alloc(0) : value });
        }
        if (batch.length < want) break;
        const last = batch[batch.length - 1]!.key;
        if (req.reverse) hi = last;
        else lo = Buffer.concat([last, Buffer.from([0])]);
      }
    }
    peer.countRead(kvs.length, kvs.reduce((n, p) => n + (p.value as Buffer).length, 0));
    return { kvs };
  }

  async put(req: kvrpcpb.RawPutRequest): Promise<kvrpcpb.RawPutResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkKey(peer, req.key);
    this.routing.checkValue(req.value);
    const key = rawKey(req.key);
    const value = encodeRawValue(req.value, ttlExpiry(req.ttlSeconds, this.nowMs()));
    await this.writes.blindWrite(peer, [key], [{ kind: 'put', cf: 'raw', key, value }]);
    return {};
  }

  async batchPut(req: kvrpcpb.RawBatchPutRequest): Promise<kvrpcpb.RawBatchPutResponse__Input> {
    const peer = this.routing.route(req.context);
    const keys = req.pairs.map((p) => p.key);
    this.routing.checkKeys(peer, keys, 'pairs');
    const ttls = req.ttlsSeconds;
    if (ttls.length > 1 && ttls.length !== req.pairs.length) {
      throw new FlotillaError('InvalidArgument', `${ttls.length} TTLs for ${req.pairs.length} pairs (give none, one, or one per pair)`);
    }
    const now = this.nowMs();
    const ops: WriteOp[] = [];
    const engineKeys: Buffer[] = [];
    for (let i = 0; i < req.pairs.length; i++) {
      const pair = req.pairs[i]!;
      this.routing.checkValue(pair.value);
      const ttl = ttls.length === 0 ? '0' : ttls.length === 1 ? ttls[0]! : ttls[i]!;
      const key = rawKey(pair.key);
      engineKeys.push(key);
      ops.push({ kind: 'put', cf: 'raw', key, value: encodeRawValue(pair.value, ttlExpiry(ttl, now)) });
    }
    await this.writes.blindWrite(peer, engineKeys, ops);
    return {};
  }

  async delete(req: kvrpcpb.RawDeleteRequest): Promise<kvrpcpb.RawDeleteResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkKey(peer, req.key);
    const key = rawKey(req.key);
    await this.writes.blindWrite(peer, [key], [{ kind: 'delete', cf: 'raw', key }]);
    return {};
  }

  async batchDelete(req: kvrpcpb.RawBatchDeleteRequest): Promise<kvrpcpb.RawBatchDeleteResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkKeys(peer, req.keys);
    const keys = req.keys.map((k) => rawKey(k));
    await this.writes.blindWrite(peer, keys, keys.map((key): WriteOp => ({ kind: 'delete', cf: 'raw', key })));
    return {};
  }

  /** Deletes the range in chunks of DELETE_RANGE_CHUNK_KEYS keys, each chunk atomic. */
  async deleteRange(req: kvrpcpb.RawDeleteRangeRequest): Promise<kvrpcpb.RawDeleteRangeResponse__Input> {
    const peer = this.routing.route(req.context);
    if (req.startKey.length === 0) throw new FlotillaError('InvalidArgument', 'delete range needs a start key');
    const range = this.routing.clampRange(peer, req.startKey, req.endKey);
    const { start: first, end } = cfRangeOf('raw', range.start, range.end);
    let from = first;
    for (;;) {
      const blind = this.writes.blindWritesIn(from, end);
      if (blind !== null) await blind;
      await this.writes.readBarrier(peer);
      const batch = await this.writes.engine.readView().scan(from, end, { limit: DELETE_RANGE_CHUNK_KEYS });
      if (batch.length === 0) break;
      const keys = batch.map((kv) => kv.key);
      await this.writes.latched(peer, keys, async () => ({ ops: keys.map((key): WriteOp => ({ kind: 'delete', cf: 'raw', key })), result: undefined }));
      if (batch.length < DELETE_RANGE_CHUNK_KEYS) break;
      from = Buffer.concat([keys[keys.length - 1]!, Buffer.from([0])]);
    }
    return {};
  }

  /**
   * One step of the TTL sweep on a region this store leads: examines up to TTL_SWEEP_KEYS raw keys
   * from `from` (an engine key; null = the region's start) and deletes, through raft and under their
   * latches, those whose TTL has passed (re-checked under the latch: a key rewritten meanwhile
   * stays). Returns where the next step starts (null at the region's end) and whether any key it
   * examined carries a TTL, expired or not.
   */
  async sweepExpired(peer: Peer, from: Buffer | null): Promise<{ readonly next: Buffer | null; readonly sawTtl: boolean }> {
    const range = this.routing.clampRange(peer, Buffer.alloc(0), Buffer.alloc(0));
    const whole = cfRangeOf('raw', range.start, range.end);
    const start = from ?? whole.start;
    const end = whole.end;
    // A quiet leader's state is complete (everything committed is applied), and a barrier would
    // wake it every second: it only looks. If it finds expired keys, their delete wakes it, and
    // a deposed leader's proposal never commits.
    if (!peer.raw.isQuiet) await this.writes.readBarrier(peer);
    const batch = await this.writes.engine.readView().scan(start, end, { limit: TTL_SWEEP_KEYS });
    const now = this.nowMs();
    const sawTtl = batch.some((kv) => hasTtl(kv.value));
    const expired = sawTtl ? batch.filter((kv) => liveRawValue(kv.value, now) === null).map((kv) => kv.key) : [];
    if (expired.length > 0) {
      await this.writes.latched(peer, expired, async () => {
        const current = await this.writes.engine.readView().multiGet(expired);
        const ops: WriteOp[] = [];
        for (let i = 0; i < expired.length; i++) {
          const stored = current[i] ?? null;
          if (stored !== null && liveRawValue(stored, this.nowMs()) === null) ops.push({ kind: 'delete', cf: 'raw', key: expired[i]! });
        }
        return { ops, result: undefined };
      });
    }
    if (batch.length < TTL_SWEEP_KEYS) return { next: null, sawTtl };
    return { next: Buffer.concat([batch[batch.length - 1]!.key, Buffer.from([0])]), sawTtl };
  }

  async compareAndSwap(req: kvrpcpb.RawCompareAndSwapRequest): Promise<kvrpcpb.RawCompareAndSwapResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkKey(peer, req.key);
    this.routing.checkValue(req.value);
    const key = rawKey(req.key);
    const expiry = ttlExpiry(req.ttlSeconds, this.nowMs());
    return this.writes.latched(peer, [key], async () => {
      const current = liveRawValue(await this.writes.engine.get(key), this.nowMs());
      const matches = req.previousNotExist ? current === null : current !== null && current.equals(req.previousValue);
      const answer: kvrpcpb.RawCompareAndSwapResponse__Input = current === null
        ? { succeeded: matches, previousNotExist: true }
        : { succeeded: matches, previousValue: current, previousNotExist: false };
      return { ops: matches ? [{ kind: 'put', cf: 'raw', key, value: encodeRawValue(req.value, expiry) }] : [], result: answer };
    });
  }
}

/** Raw keys examined per TTL sweep step. */
export const TTL_SWEEP_KEYS = 1_000;

/** The user key of a raw CF engine key (prefix ‖ memcomparable(user key)). */
function userKeyOfRaw(engineKey: Buffer): Buffer {
  return decodeKey(engineKey, 1).key;
}

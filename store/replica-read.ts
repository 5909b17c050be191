// Replica reads (kvrpcpb.Context.replica_read; TiKV's follower read): a follower or learner serves
// a read from its own applied state, linearizably, so that reads need not all queue on the leader.
//
//   1. The follower gathers the replica reads of one poll round into one ReadIndex request (like a
//      leader's reads, peer.ts flushReads) and raft forwards it to the leader.
//   2. The leader, before raft sees the request, does for those reads what a leader's own
//      transactional read does (txn-kv.ts readAt): it raises its concurrency manager's max read
//      ts to the newest read ts of the request, and waits until no one-phase commit in flight on
//      the request's keys has a commit_ts at or below it. Only then is the request stepped, so
//      the read index it gets covers every such commit, and every later one-phase commit_ts lies
//      above the reads. Without the first step a one-phase commit could pick a commit_ts at or
//      below a read ts the read did not see; without the second the read could miss a commit at
//      or below its ts that a later read sees.
//   3. Raft confirms the read index (lease or heartbeat quorum) and answers the follower, which
//      serves the reads once it has applied (and written) up to that index.
//
// The request's context carries what step 2 needs: this file's codec. A request gathers its
// reads' keys and ranges up to REPLICA_READ_SPAN_BYTES_MAX; past it, it asks the leader to wait
// for every one-phase commit in flight at or below its ts (correct, and only slower).
// Only a leader takes a request from the network: the store drops one that reaches a replica that
// does not lead. Raft would forward it on under the forwarder's name, and the answer would go to
// the forwarder, whose own read with the same id (if any) would take an index confirmed for other
// keys, maybe before that read began. The requester's read then fails (at its leader's change or
// its timeout) and the client retries elsewhere. Request ids carry a random prefix per peer
// incarnation (peer.ts) for the same reason: a late answer to a read from before a restart.

import { FlotillaError, type Ts } from '../common/index.js';
import type { ConcurrencyManager } from './concurrency-manager.js';

/** Bytes of keys a replica ReadIndex request may carry; beyond, it asks for every key. */
export const REPLICA_READ_SPAN_BYTES_MAX = 16 * 1024;

/**
 * Replica ReadIndex requests a leader's store holds at its gate at once (waiting for one-phase
 * commits in flight); beyond, more are dropped until some are stepped, as raft drops a request
 * past its own pending-read bound (raft/limits.ts READ_INDEX_PENDING_MAX): their reads fail at
 * the replica's timeout and the client retries. Each replica sends at most one request per poll
 * round, but a commit held long (a slow PD, a stalled quorum) would otherwise collect them all.
 */
export const REPLICA_READ_GATED_MAX = 4096;

/** What one replica read reads: its ts (null: a raw read, no ts) and its keys or its range. */
export type ReplicaReadScope =
  | { readonly readTs: Ts | null; readonly keys: readonly Buffer[] }
  | { readonly readTs: Ts | null; readonly start: Buffer; readonly end: Buffer };

/** A key, or [start, end) with end empty = unbounded. */
export type ReadSpan = { readonly key: Buffer } | { readonly start: Buffer; readonly end: Buffer };

/** What the leader must check for a replica ReadIndex request. */
export interface ReplicaReadCheck {
  /** The newest read ts of its reads; 0n when none is transactional. */
  readonly maxTs: Ts;
  /** null: every key (the spans did not fit). */
  readonly spans: readonly ReadSpan[] | null;
}

/** The ReadIndex context's first 8 bytes name the request (peer.ts); this tag follows. */
const READ_ID_BYTES = 8;
const TAG = 0x52;
const HEADER_BYTES = READ_ID_BYTES + 1 + 8 + 1 + 4;
const KIND_KEY = 0;
const KIND_RANGE = 1;

/** The reads of one round, gathered for one ReadIndex request. */
export class ReplicaReadBatch {
  private maxTs: Ts = 0n;
  private readonly spans: ReadSpan[] = [];
  private spanBytes = 0;
  private isEveryKey = false;

  add(scope: ReplicaReadScope): void {
    if (scope.readTs !== null && scope.readTs > this.maxTs) this.maxTs = scope.readTs;
    if (scope.readTs === null || this.isEveryKey) return; // a raw read waits for no one-phase commit
    if ('keys' in scope) {
      for (const key of scope.keys) this.push({ key }, 5 + key.length);
    } else {
      this.push({ start: scope.start, end: scope.end }, 9 + scope.start.length + scope.end.length);
    }
  }

  private push(span: ReadSpan, bytes: number): void {
    if (this.isEveryKey) return;
    if (this.spanBytes + bytes > REPLICA_READ_SPAN_BYTES_MAX) {
      this.isEveryKey = true;
      this.spans.length = 0;
      return;
    }
    this.spans.push(span);
    this.spanBytes += bytes;
  }

  /** The ReadIndex context: `readId` (8 bytes), then what the leader checks. */
  encode(readId: Buffer): Buffer {
    const out = Buffer.allocUnsafe(HEADER_BYTES + (this.isEveryKey ? 0 : this.spanBytes));
    readId.copy(out, 0, 0, READ_ID_BYTES);
    let o = READ_ID_BYTES;
    out[o++] = TAG;
    out.writeBigUInt64BE(this.maxTs, o);
    o += 8;
    out[o++] = this.isEveryKey ? 1 : 0;
    out.writeUInt32BE(this.isEveryKey ? 0 : this.spans.length, o);
    o += 4;
    if (this.isEveryKey) return out;
    for (const s of this.spans) {
      if ('key' in s) {
        out[o++] = KIND_KEY;
        o = writeBytes(out, o, s.key);
      } else {
        out[o++] = KIND_RANGE;
        o = writeBytes(out, o, s.start);
        o = writeBytes(out, o, s.end);
      }
    }
    return out;
  }
}

function writeBytes(out: Buffer, o: number, b: Buffer): number {
  out.writeUInt32BE(b.length, o);
  b.copy(out, o + 4);
  return o + 4 + b.length;
}

/**
 * The check a replica ReadIndex context asks for, or null when the context is not one (a
 * leader's own 8-byte request id). Throws InvalidArgument for a malformed one.
 */
export function decodeReplicaReadContext(ctx: Uint8Array): ReplicaReadCheck | null {
  if (ctx.length <= READ_ID_BYTES) return null;
  const buf = Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength);
  const bad = (why: string): FlotillaError => new FlotillaError('InvalidArgument', `replica read context: ${why}`);
  if (buf[READ_ID_BYTES] !== TAG) throw bad('unknown tag');
  if (buf.length < HEADER_BYTES) throw bad('truncated header');
  let o = READ_ID_BYTES + 1;
  const maxTs = buf.readBigUInt64BE(o);
  o += 8;
  const flag = buf[o++];
  if (flag !== 0 && flag !== 1) throw bad(`unknown flag ${String(flag)}`);
  const isEveryKey = flag === 1;
  const count = buf.readUInt32BE(o);
  o += 4;
  if (isEveryKey) {
    if (count !== 0 || o !== buf.length) throw bad('spans after "every key"');
    return { maxTs, spans: null };
  }
  const readBytes = (): Buffer => {
    if (o + 4 > buf.length) throw bad('truncated span');
    const n = buf.readUInt32BE(o);
    if (o + 4 + n > buf.length) throw bad('truncated span');
    const b = buf.subarray(o + 4, o + 4 + n);
    o += 4 + n;
    return b;
  };
  // Each span takes at least 5 bytes: a count past what the bytes can hold is refused before any work.
  if (count > (buf.length - o) / 5) throw bad(`${count} spans in ${buf.length - o} bytes`);
  const spans: ReadSpan[] = [];
  for (let i = 0; i < count; i++) {
    const kind = buf[o++];
    if (kind === KIND_KEY) spans.push({ key: readBytes() });
    else if (kind === KIND_RANGE) {
      const start = readBytes();
      spans.push({ start, end: readBytes() });
    } else throw bad(`unknown span kind ${String(kind)}`);
  }
  if (o !== buf.length) throw bad('trailing bytes');
  return { maxTs, spans };
}

/** The request id (the first 8 bytes) of a ReadIndex context, as the key of its pending read. */
export function readIdOf(ctx: Uint8Array): string {
  return Buffer.from(ctx.buffer, ctx.byteOffset, Math.min(ctx.byteLength, READ_ID_BYTES)).toString('latin1');
}

const EVERY_KEY = Buffer.alloc(0);

/**
 * Step 2 of the file comment on a leader's concurrency manager: raises max ts to the request's
 * (throws InvalidArgument for a ts far ahead of the clock), then returns what to wait for before
 * raft may take the request — null when nothing.
 */
export function replicaReadGate(cm: ConcurrencyManager): (check: ReplicaReadCheck) => Promise<void> | null {
  return (check) => {
    if (check.maxTs === 0n) return null; // raw reads only
    cm.observeReadTs(check.maxTs);
    if (cm.memoryLockCount === 0) return null;
    if (check.spans === null) return cm.waitForRange(EVERY_KEY, EVERY_KEY, check.maxTs);
    const keys: Buffer[] = [];
    const waits: Promise<void>[] = [];
    for (const s of check.spans) {
      if ('key' in s) keys.push(s.key);
      else waits.push(cm.waitForRange(s.start, s.end, check.maxTs));
    }
    if (keys.length > 0) waits.push(cm.waitForKeys(keys, check.maxTs));
    return waits.length === 1 ? waits[0]! : Promise.all(waits).then(() => undefined);
  };
}

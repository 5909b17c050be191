// Pending ReadIndex requests on a leader in 'safe' mode (Raft thesis §6.4). Each request records
// the commit index when it arrived; heartbeats carry the round key of the newest request, and a
// quorum of acks for a key confirms it and every request queued before it — so one heartbeat
// round serves a whole batch.
//
// Heartbeats carry a round key the leader made for the request (a sequence number), never the
// client's context: a context can come again (a duplicated or retried MsgReadIndex after its
// first copy was served), and acks for the round of its first copy, still in flight, must not
// confirm requests queued after it (found by the simulator's read-confirmation check, seed 479).
import { type Message, type NodeId } from './types.js';

export interface ReadIndexStatus {
  readonly request: Message;
  readonly index: number;
  readonly acks: Set<NodeId>;
  /** The round key heartbeats carry for this request, made once when it is queued. */
  readonly roundContext: Uint8Array;
  /** contextKey of the client's context (to forget it once served). */
  readonly clientContextKey: string;
}

/** Context bytes as a map key. */
export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i] ?? 0);
  return s;
}

/** Prefix of round keys; a client context echoed by an old follower never parses as one. */
const ROUND_KEY_PREFIX = '\u0000read-round:';

export class ReadOnly {
  /** Round key → request. */
  private readonly pending = new Map<string, ReadIndexStatus>();
  /** Client contexts of pending requests (a duplicate of a pending one is ignored). */
  private readonly pendingContexts = new Set<string>();
  /** Round keys, oldest first. */
  private queue: string[] = [];
  /** Never reset: a round key is never reused by this leader, in any term. */
  private nextRound = 0;

  size(): number {
    return this.queue.length;
  }

  /** Queues a request at commit index `index`; a duplicate of a pending context is ignored. */
  addRequest(index: number, request: Message): void {
    const ctx = contextKey(request.context);
    if (this.pendingContexts.has(ctx)) return;
    const key = `${ROUND_KEY_PREFIX}${this.nextRound++}`;
    this.pendingContexts.add(ctx);
    const roundContext = Uint8Array.from(key, (c) => c.charCodeAt(0));
    this.pending.set(key, { request, index, acks: new Set(), roundContext, clientContextKey: ctx });
    this.queue.push(key);
  }

  /** Records a heartbeat ack for round key `ctx`; returns the acks so far, or undefined if unknown. */
  recvAck(id: NodeId, ctx: Uint8Array): Set<NodeId> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (rs === undefined) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Removes and returns the requests up to and including round key `ctx` (all confirmed by its quorum). */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      this.pending.delete(k);
      if (rs === undefined) continue;
      this.pendingContexts.delete(rs.clientContextKey);
      out.push(rs);
    }
    return out;
  }

  /** The round key of the newest pending request, to carry in heartbeats. */
  lastPendingContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)?.roundContext;
  }

  reset(): void {
    this.pending.clear();
    this.pendingContexts.clear();
    this.queue = [];
  }
}

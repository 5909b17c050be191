// Pending ReadIndex requests on a leader in 'safe' mode (Raft thesis §6.4). Each request records
// the commit index when it arrived; heartbeats carry the newest request's context, and a quorum
// of acks for a context confirms it and every request queued before it — so one heartbeat
// round serves a whole batch.
import { type Message, type NodeId } from './types.js';

export interface ReadIndexStatus {
  readonly request: Message;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

/** Context bytes as a map key. */
export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i] ?? 0);
  return s;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  size(): number {
    return this.queue.length;
  }

  /** Queues a request at commit index `index`; a duplicate context is ignored. */
  addRequest(index: number, request: Message): void {
    const key = contextKey(request.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { request, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records a heartbeat ack for `ctx`; returns the acks so far, or undefined if unknown. */
  recvAck(id: NodeId, ctx: Uint8Array): Set<NodeId> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (rs === undefined) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Removes and returns the requests up to and including `ctx` (all confirmed by its quorum). */
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
      if (rs !== undefined) out.push(rs);
    }
    return out;
  }

  lastPendingContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)?.request.context;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}

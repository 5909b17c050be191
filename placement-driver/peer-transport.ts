// Raft traffic between PD members: one long-lived client stream (PDPeer.Raft) per peer, carrying
// batches of messages (one batch per peer per ready round). Sending never blocks the raft loop and
// never grows without bound: if a stream is not writable (HTTP/2 back-pressure) or broken, the
// batch is dropped and raft is told the peer is unreachable — raft retransmits by design.

import type { Logger } from 'pino';
import { type ChannelCache, FlotillaError, type grpc, u64ToWire } from '../common/index.js';
import { loadProtos, type pdpb } from '../proto/index.js';
import type { Message } from '../raft/index.js';
import type { PeerFaults } from './peer-faults.js';
import { messageToWire } from '../raft-host/index.js';

/** A broken stream is re-dialled no more often than this. */
export const PEER_REDIAL_INTERVAL_MS = 500;

export interface PeerTransportOptions {
  readonly selfId: number;
  readonly clusterId: () => bigint;
  readonly channels: ChannelCache;
  readonly logger: Logger;
  /** A message to `to` could not be sent (raft then probes that peer gently). */
  readonly onUnreachable: (to: number) => void;
  /** A snapshot message to `to` was handed to the stream (finish) or lost (failure). */
  readonly onSnapshotSent: (to: number, outcome: 'finish' | 'failure') => void;
  /** A batch was dropped (peer unknown, unreachable or not draining); for metrics. */
  readonly onDropped?: () => void;
  /** Test-only fault layer (peer-faults.ts): batches it refuses are lost silently, as on a bad network. */
  readonly faults?: PeerFaults;
}

interface PeerStream {
  readonly call: grpc.ClientWritableStream<pdpb.PeerMessageBatch__Input>;
  broken: boolean;
}

export class PeerTransport {
  private readonly addresses = new Map<number, string>();
  private readonly streams = new Map<number, PeerStream>();
  private readonly lastDialMs = new Map<number, number>();
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: PeerTransportOptions) {
    this.log = options.logger.child({ component: 'pd-peer-transport' });
  }

  /** Sets (or replaces) the peer address of a member; its stream is re-dialled on change, at once. */
  setPeerAddress(id: number, address: string): void {
    if (this.addresses.get(id) === address) return;
    this.addresses.set(id, address);
    this.dropStream(id);
    this.lastDialMs.delete(id); // the redial interval paces dials of one address, not a move to a new one
  }

  removePeer(id: number): void {
    this.addresses.delete(id);
    this.dropStream(id);
    this.lastDialMs.delete(id);
  }

  peerAddress(id: number): string | undefined {
    return this.addresses.get(id);
  }

  /** Sends messages grouped per destination, one batch each. Never throws. */
  send(messages: readonly Message[]): void {
    if (messages.length === 0 || this.closed) return;
    const byPeer = new Map<number, Message[]>();
    for (const m of messages) {
      const list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, [m]);
      else list.push(m);
    }
    for (const [to, batch] of byPeer) this.sendBatch(to, batch);
  }

  private sendBatch(to: number, batch: readonly Message[]): void {
    const hasSnapshot = batch.some((m) => m.type === 'MsgSnap');
    if (this.options.faults?.allowsOut(to) === false) {
      // A partition loses messages without telling anyone; a snapshot is reported lost so raft retries it.
      if (hasSnapshot) this.options.onSnapshotSent(to, 'failure');
      return;
    }
    const stream = this.streamTo(to);
    if (stream === undefined || stream.broken) {
      this.options.onDropped?.();
      this.options.onUnreachable(to);
      if (hasSnapshot) this.options.onSnapshotSent(to, 'failure');
      return;
    }
    const writable = stream.call.write({
      header: { clusterId: u64ToWire(this.options.clusterId()), senderId: String(this.options.selfId) },
      msgs: batch.map(messageToWire),
    });
    if (hasSnapshot) this.options.onSnapshotSent(to, 'finish');
    if (!writable) {
      // The peer is slow: stop writing until it drains; raft resends what gets dropped meanwhile.
      stream.broken = true;
      stream.call.once('drain', () => {
        if (this.streams.get(to) === stream) stream.broken = false;
      });
    }
  }

  private streamTo(to: number): PeerStream | undefined {
    const existing = this.streams.get(to);
    if (existing !== undefined) return existing;
    const address = this.addresses.get(to);
    if (address === undefined) return undefined;
    const now = Date.now();
    if (now - (this.lastDialMs.get(to) ?? 0) < PEER_REDIAL_INTERVAL_MS) return undefined;
    this.lastDialMs.set(to, now);
    const client = this.options.channels.get(loadProtos().flotilla.pdpb.PDPeer, address);
    const call = client.Raft((err) => {
      // The stream ended: normal at shutdown, otherwise the peer went away. Re-dial on next send.
      if (err !== null && !this.closed) this.log.debug({ to, err: err.message }, 'peer stream ended');
      if (this.streams.get(to)?.call === call) this.streams.delete(to);
    });
    const stream: PeerStream = { call, broken: false };
    call.on('error', () => {
      stream.broken = true;
    });
    this.streams.set(to, stream);
    return stream;
  }

  private dropStream(id: number): void {
    const s = this.streams.get(id);
    if (s !== undefined) {
      this.streams.delete(id);
      s.call.end();
    }
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.streams.keys()]) this.dropStream(id);
  }
}

/** Thrown into a peer stream's handler when the sender belongs to another cluster. */
export function clusterMismatch(ours: bigint, theirs: bigint): FlotillaError {
  return new FlotillaError('ClusterIdMismatch', `peer is in cluster ${theirs}, this member in ${ours}`);
}

// Raft traffic between stores: one long-lived client stream (RaftTransport.Raft) per destination
// store, carrying one RaftMessageBatch per poll round. Store addresses are resolved through PD and
// cached. Sending never blocks the poll loop and never grows without bound: while a store's
// address is unknown, its stream broken or not draining, batches for it are dropped and raft is
// told the peer is unreachable — raft resends by design. The cluster id travels in the stream's
// metadata; a receiver of another cluster refuses the stream.

import type { Logger } from 'pino';
import { type ChannelCache, clusterIdRefusal, grpc, grpcStatusOf, type GrpcStatus, type PeerMeta, setClusterIdMetadata } from '../common/index.js';
import { serviceDefinition } from '../proto/index.js';
import type { Message } from '../raft/index.js';
import type { Peer } from './peer.js';
import type { RaftSender } from './poll-loop.js';
import { type DecodedRaftBatch, decodeRaftBatch, encodeRaftBatch, type StoreRaftMessage } from './raft-codec.js';

/** A broken stream is re-dialled no more often than this. */
export const STORE_REDIAL_INTERVAL_MS = 500;
/**
 * Why a raft or snapshot stream must be refused (FAILED_PRECONDITION, ClusterIdMismatch): its
 * metadata names another cluster than `clusterId`, or none; null when it is ours.
 */
export function streamClusterRefusal(metadata: grpc.Metadata, clusterId: bigint, what: string): GrpcStatus | null {
  const refusal = clusterIdRefusal(metadata, clusterId, what, true);
  return refusal === null ? null : grpcStatusOf(refusal);
}

/**
 * The is_tombstone answer of `peer`'s replica to `to`, a peer its region no longer lists: the
 * region's epoch and range, and an empty heartbeat as its raft message (never stepped: the
 * receiver acts on is_tombstone alone).
 */
export function tombstoneMessage(peer: Peer, to: PeerMeta): StoreRaftMessage {
  const region = peer.region;
  const from = peer.selfMeta;
  const message: Message = { type: 'MsgHeartbeat', to: to.id, from: peer.peerId, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: EMPTY_CONTEXT };
  return { regionId: region.id, fromPeer: from, toPeer: to, message, epoch: region.epoch, isTombstone: true, startKey: region.startKey, endKey: region.endKey };
}

const EMPTY_CONTEXT = new Uint8Array(0);

export interface StoreTransportOptions {
  readonly storeId: number;
  readonly clusterId: bigint;
  readonly channels: ChannelCache;
  readonly logger: Logger;
  /** Resolves a store's gRPC address (through PD; the transport caches it). */
  readonly resolveAddress: (storeId: number) => Promise<string>;
  /** Messages for `toPeerId` of `peer`'s region could not be sent. */
  readonly onUnreachable: (peer: Peer, toPeerId: number) => void;
  readonly onSent?: (messages: number) => void;
  readonly onDropped?: (messages: number) => void;
}

/**
 * RaftTransport's service definition with the Raft stream's requests as raw bytes: the store
 * encodes and decodes RaftMessageBatch itself (raft-codec.ts), the same protobuf on the wire,
 * without protobufjs. The Snapshot stream keeps proto-loader's codec.
 */
export function raftTransportDefinition(): grpc.ServiceDefinition {
  const loaded = serviceDefinition('flotilla.raft_serverpb.RaftTransport');
  return {
    ...loaded,
    Raft: {
      ...loaded.Raft,
      requestSerialize: (bytes: Buffer): Buffer => bytes,
      requestDeserialize: (bytes: Buffer): DecodedRaftBatch => decodeRaftBatch(bytes),
    },
  };
}

type RaftTransportClient = grpc.Client & {
  Raft(metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null) => void): grpc.ClientWritableStream<Buffer>;
};
let rawClientCtor: (new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => RaftTransportClient) | null = null;

function raftTransportClient(): new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => RaftTransportClient {
  rawClientCtor ??= grpc.makeGenericClientConstructor(raftTransportDefinition(), 'RaftTransportRaw') as unknown as typeof rawClientCtor & object;
  return rawClientCtor;
}

interface StoreStream {
  readonly call: grpc.ClientWritableStream<Buffer>;
  isWritable: boolean;
}

interface Queued {
  readonly msgs: StoreRaftMessage[];
  /** For unreachable reports: which peer sent to which. */
  readonly senders: [Peer, number][];
}

export class StoreTransport implements RaftSender {
  private readonly addresses = new Map<number, string>();
  private readonly resolving = new Set<number>();
  private readonly streams = new Map<number, StoreStream>();
  private readonly lastDialMs = new Map<number, number>();
  private queued = new Map<number, Queued>();
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: StoreTransportOptions) {
    this.log = options.logger.child({ component: 'store-transport' });
  }

  send(peer: Peer, messages: readonly Message[]): void {
    if (this.closed) return;
    const region = peer.region;
    const from = peer.selfMeta;
    for (const m of messages) {
      const to = peer.peerById(m.to);
      if (to === undefined) {
        this.options.onDropped?.(1);
        continue;
      }
      let q = this.queued.get(to.storeId);
      if (q === undefined) {
        q = { msgs: [], senders: [] };
        this.queued.set(to.storeId, q);
      }
      q.msgs.push({ regionId: region.id, fromPeer: from, toPeer: to, message: m, epoch: region.epoch, isTombstone: false, startKey: region.startKey, endKey: region.endKey });
      q.senders.push([peer, to.id]);
    }
  }

  sendTombstone(peer: Peer, to: PeerMeta): void {
    if (this.closed) return;
    let q = this.queued.get(to.storeId);
    if (q === undefined) {
      q = { msgs: [], senders: [] };
      this.queued.set(to.storeId, q);
    }
    // Not among `senders`: a tombstone answer that is lost is sent again at the next stale message.
    q.msgs.push(tombstoneMessage(peer, to));
  }

  flush(): void {
    if (this.queued.size === 0) return;
    const queued = this.queued;
    this.queued = new Map();
    for (const [storeId, q] of queued) {
      const stream = this.streamTo(storeId);
      if (stream === undefined || !stream.isWritable) {
        this.options.onDropped?.(q.msgs.length);
        for (const [peer, to] of q.senders) this.options.onUnreachable(peer, to);
        continue;
      }
      let bytes: Buffer;
      try {
        // The codec refuses a batch past its limits (RAFT_BATCH_MESSAGES_MAX, RAFT_BATCH_BYTES_MAX).
        bytes = encodeRaftBatch({ msgs: q.msgs, fromStoreId: this.options.storeId });
      } catch (err) {
        // Past a batch limit (a flood of messages, a message too large): dropped; raft resends.
        this.log.warn({ storeId, err }, 'raft batch not sent');
        this.options.onDropped?.(q.msgs.length);
        for (const [peer, to] of q.senders) this.options.onUnreachable(peer, to);
        continue;
      }
      this.options.onSent?.(q.msgs.length);
      if (!stream.call.write(bytes)) {
        // The receiver is slow: stop writing until it drains; raft resends what is dropped meanwhile.
        stream.isWritable = false;
        stream.call.once('drain', () => {
          stream.isWritable = true;
        });
      }
    }
  }

  /**
   * Writes an empty batch naming this store to each of `storeIds` that has a writable stream: a
   * keepalive, so that followers of regions this store leads quietly know it is up.
   */
  keepalive(storeIds: Iterable<number>): void {
    if (this.closed) return;
    for (const storeId of storeIds) {
      const stream = this.streamTo(storeId);
      if (stream === undefined || !stream.isWritable) continue;
      if (!stream.call.write(encodeRaftBatch({ msgs: [], fromStoreId: this.options.storeId }))) {
        stream.isWritable = false;
        stream.call.once('drain', () => {
          stream.isWritable = true;
        });
      }
    }
  }

  private streamTo(storeId: number): StoreStream | undefined {
    const existing = this.streams.get(storeId);
    if (existing !== undefined) return existing;
    const address = this.addresses.get(storeId);
    if (address === undefined) {
      this.resolve(storeId);
      return undefined;
    }
    const now = Date.now();
    if (now - (this.lastDialMs.get(storeId) ?? 0) < STORE_REDIAL_INTERVAL_MS) return undefined;
    this.lastDialMs.set(storeId, now);
    const client = this.options.channels.get(raftTransportClient(), address);
    const call = client.Raft(setClusterIdMetadata(new grpc.Metadata(), this.options.clusterId), (err) => {
      if (err !== null && !this.closed) {
        this.log.debug({ storeId, err: err.message }, 'raft stream to store ended');
        if (err.code === grpc.status.FAILED_PRECONDITION) this.log.warn({ storeId, err: err.message }, 'store refused our raft stream');
      }
      if (this.streams.get(storeId)?.call === call) this.streams.delete(storeId);
      // A failed stream may mean the store moved: ask PD for its address again on the next send.
      if (err !== null && !this.closed) this.addresses.delete(storeId);
    });
    const stream: StoreStream = { call, isWritable: true };
    call.on('error', () => {
      stream.isWritable = false;
      if (this.streams.get(storeId) === stream) this.streams.delete(storeId);
    });
    this.streams.set(storeId, stream);
    return stream;
  }

  private resolve(storeId: number): void {
    if (this.resolving.has(storeId) || this.closed) return;
    this.resolving.add(storeId);
    this.options.resolveAddress(storeId).then(
      (address) => {
        this.resolving.delete(storeId);
        if (!this.closed) this.addresses.set(storeId, address);
      },
      (err: unknown) => {
        this.resolving.delete(storeId);
        this.log.debug({ storeId, err }, 'cannot resolve store address');
      },
    );
  }

  private dropStream(storeId: number): void {
    const s = this.streams.get(storeId);
    if (s === undefined) return;
    this.streams.delete(storeId);
    s.call.end();
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.streams.keys()]) this.dropStream(id);
  }
}

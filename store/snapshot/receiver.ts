// The receiving end of RaftTransport.Snapshot: one snapshot per stream — a header, data chunks, a
// trailer — written to a file as it arrives (files.ts; one chunk in memory, the stream paused
// while it is written), checked against the trailer (CRC-32, bytes, chunk count), fsynced and
// renamed, then answered Done and handed to the region (its raft node steps the MsgSnap; raft
// decides whether to install it, and the poll loop installs it through apply.ts).
//
// Refused (a gRPC status, nothing written): another cluster's stream; more than
// SNAPSHOT_RECEIVES_MAX at once (RESOURCE_EXHAUSTED); a header that is not a MsgSnap to a peer on
// this store or names a region the store will not take (RaftStore decides: no such peer, or a
// range overlapping another region here — checked again before raft steps it); chunks out of
// order; a payload that does not match its trailer.

import type { Logger } from 'pino';
import { failpoint, FlotillaError, grpc, u64ToSafeNumber } from '../../common/index.js';
import type { raft_serverpb } from '../../proto/index.js';
import { messageFromWire } from '../../raft-host/index.js';
import { type RegionMeta } from '../../common/index.js';
import { streamClusterRefusal } from '../transport.js';
import { decodeSnapshotData } from './codec.js';
import { SnapshotFileWriter, snapshotFileName } from './files.js';
import { SNAPSHOT_RECEIVED_TTL_MS, SNAPSHOT_RECEIVES_MAX } from './limits.js';
import type { SnapshotMetrics } from './metrics.js';
import { rm } from 'node:fs/promises';

/** A complete, checked payload on disk, waiting for raft to install it. */
export interface ReceivedSnapshot {
  readonly regionId: number;
  readonly index: number;
  readonly term: number;
  readonly region: RegionMeta;
  readonly path: string;
  readonly crc32: number;
  readonly bytes: number;
  readonly receivedMs: number;
}

/** The snapshot header as the store checks it before accepting the stream. */
export interface SnapshotOffer {
  readonly regionId: number;
  readonly toPeerId: number;
  readonly region: RegionMeta;
  readonly index: number;
  readonly term: number;
}

export interface SnapshotReceiverOptions {
  readonly storeId: number;
  readonly clusterId: bigint;
  readonly dir: string;
  readonly logger: Logger;
  readonly metrics?: SnapshotMetrics;
  /** null: accept; else why not (the stream is refused with it). */
  readonly check: (offer: SnapshotOffer) => FlotillaError | null;
  /** A checked payload is on disk: step `message` (the MsgSnap) into the region. */
  readonly onReceived: (message: raft_serverpb.RaftMessage, received: ReceivedSnapshot) => void;
  readonly nowMs?: () => number;
}

/** Failpoint after each data chunk is written to the file (a pause, then kill -9: a partial receive). */
export const FAILPOINT_SNAPSHOT_RECEIVE_CHUNK = 'store::snapshot-receive-chunk';

function key(regionId: number, index: number, term: number): string {
  return `${regionId}/${index}/${term}`;
}

export class SnapshotReceiver {
  private active = 0;
  private readonly held = new Map<string, ReceivedSnapshot>();
  private readonly log: Logger;
  private readonly nowMs: () => number;

  constructor(private readonly options: SnapshotReceiverOptions) {
    this.log = options.logger.child({ component: 'snapshot-receiver' });
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** The received payload of this snapshot, if any (the installer takes it). */
  find(regionId: number, index: number, term: number): ReceivedSnapshot | undefined {
    return this.held.get(key(regionId, index, term));
  }

  /** The payload was installed (or is gone): forget it. The installer deletes the file. */
  forget(r: ReceivedSnapshot): void {
    this.held.delete(key(r.regionId, r.index, r.term));
  }

  /** A payload the store will not hand to raft after all (RaftStore's check before the step): forgotten and deleted. */
  discard(r: ReceivedSnapshot): void {
    this.forget(r);
    void rm(r.path, { force: true }).catch(() => undefined);
  }

  /** Deletes payloads raft did not take within SNAPSHOT_RECEIVED_TTL_MS. */
  sweep(isInstalling: (r: ReceivedSnapshot) => boolean): void {
    const now = this.nowMs();
    for (const r of [...this.held.values()]) {
      if (now - r.receivedMs < SNAPSHOT_RECEIVED_TTL_MS || isInstalling(r)) continue;
      this.discard(r);
    }
  }

  /** The gRPC handler. */
  handle(call: grpc.ServerReadableStream<raft_serverpb.SnapshotChunk, raft_serverpb.Done__Input>, cb: grpc.sendUnaryData<raft_serverpb.Done__Input>): void {
    const refusal = streamClusterRefusal(call.metadata, this.options.clusterId, 'snapshot stream');
    if (refusal !== null) {
      cb(refusal);
      return;
    }
    if (this.active >= SNAPSHOT_RECEIVES_MAX) {
      cb({ code: grpc.status.RESOURCE_EXHAUSTED, details: `store ${this.options.storeId} receives ${this.active} snapshots already (limit ${SNAPSHOT_RECEIVES_MAX})` });
      return;
    }
    this.active++;
    const startedAt = performance.now();
    this.receive(call).then(
      (r) => {
        this.options.metrics?.count('received');
        this.options.metrics?.observeStage('receive', (performance.now() - startedAt) / 1000);
        this.options.metrics?.addBytes('received', r.received.bytes);
        cb(null, {});
        this.options.onReceived(r.message, r.received);
      },
      (err: unknown) => {
        this.options.metrics?.count('receiveFailed');
        const e = err instanceof FlotillaError ? err : new FlotillaError('Internal', 'snapshot receive failed', { cause: err });
        this.log.warn({ err: e }, 'region snapshot receive failed');
        const code = e.code === 'InvalidArgument' || e.code === 'Corruption' ? grpc.status.INVALID_ARGUMENT
          : e.code === 'RegionNotFound' || e.code === 'EpochNotMatch' ? grpc.status.FAILED_PRECONDITION : grpc.status.UNAVAILABLE;
        cb({ code, details: e.message });
      },
    ).finally(() => {
      this.active--;
    }).catch(() => undefined);
  }

  private async receive(call: grpc.ServerReadableStream<raft_serverpb.SnapshotChunk, raft_serverpb.Done__Input>): Promise<{ message: raft_serverpb.RaftMessage; received: ReceivedSnapshot }> {
    let writer: SnapshotFileWriter | null = null;
    let message: raft_serverpb.RaftMessage | null = null;
    let offer: SnapshotOffer | null = null;
    try {
      for await (const raw of call as AsyncIterable<raft_serverpb.SnapshotChunk>) {
        const chunk = raw;
        if (message === null) {
          if (chunk.part !== 'header' || chunk.header?.message === null || chunk.header?.message === undefined) throw new FlotillaError('InvalidArgument', 'a snapshot stream must open with its header');
          message = chunk.header.message;
          offer = this.parseOffer(message);
          const refusal = this.options.check(offer);
          if (refusal !== null) throw refusal;
          writer = await SnapshotFileWriter.create(this.options.dir, snapshotFileName(offer.regionId, offer.index, offer.term));
          continue;
        }
        if (chunk.part === 'data' && chunk.data !== undefined) {
          await writer!.append(chunk.data);
          const gate = failpoint(FAILPOINT_SNAPSHOT_RECEIVE_CHUNK);
          if (gate !== undefined && typeof gate !== 'string') await gate;
          continue;
        }
        if (chunk.part === 'trailer' && chunk.trailer !== null && chunk.trailer !== undefined) {
          const got = writer!.received;
          const t = chunk.trailer;
          if (t.crc32 !== got.crc32 || u64ToSafeNumber(t.totalBytes, 'trailer.totalBytes') !== got.bytes || u64ToSafeNumber(t.chunkCount, 'trailer.chunkCount') !== got.chunks) {
            throw new FlotillaError('Corruption', `snapshot of region ${offer!.regionId}: received crc32 ${got.crc32} / ${got.bytes} bytes / ${got.chunks} chunks, the trailer says ${t.crc32} / ${t.totalBytes} / ${t.chunkCount}`);
          }
          await writer!.commit();
          const o = offer!;
          const received: ReceivedSnapshot = {
            regionId: o.regionId, index: o.index, term: o.term, region: o.region, path: writer!.path, crc32: got.crc32, bytes: got.bytes, receivedMs: this.nowMs(),
          };
          writer = null;
          this.held.set(key(o.regionId, o.index, o.term), received);
          return { message, received };
        }
        throw new FlotillaError('InvalidArgument', `snapshot stream: unexpected ${String(chunk.part)} chunk`);
      }
      throw new FlotillaError('InvalidArgument', 'snapshot stream ended before its trailer');
    } finally {
      if (writer !== null) await writer.abort();
    }
  }

  private parseOffer(message: raft_serverpb.RaftMessage): SnapshotOffer {
    const regionId = u64ToSafeNumber(message.regionId, 'regionId');
    const toStoreId = u64ToSafeNumber(message.toPeer?.storeId ?? '0', 'toPeer.storeId');
    const toPeerId = u64ToSafeNumber(message.toPeer?.id ?? '0', 'toPeer.id');
    if (toStoreId !== this.options.storeId) throw new FlotillaError('InvalidArgument', `snapshot for store ${toStoreId} sent to store ${this.options.storeId}`);
    if (message.message === null) throw new FlotillaError('InvalidArgument', 'snapshot header without a raft message');
    const m = messageFromWire(message.message);
    if (m.type !== 'MsgSnap' || m.snapshot === undefined || m.snapshot.metadata.index === 0) throw new FlotillaError('InvalidArgument', `snapshot header carries ${m.type}, not a snapshot`);
    const region = decodeSnapshotData(m.snapshot.data, `region ${regionId}`);
    if (region.id !== regionId) throw new FlotillaError('InvalidArgument', `snapshot of region ${region.id} sent as region ${regionId}`);
    return { regionId, toPeerId, region, index: m.snapshot.metadata.index, term: m.snapshot.metadata.term };
  }
}

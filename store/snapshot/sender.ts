// Streams region snapshots to followers. The poll loop hands every raft message to the store's
// sender; SnapshotDivertingSender takes the MsgSnap ones out (the rest go on the ordinary raft
// stream) and SnapshotSender streams each over RaftTransport.Snapshot: a header (the raft message,
// whose snapshot.data names the region), data chunks of whole records read page by page from the
// generator's pinned RocksDB snapshot, and a trailer with the CRC-32, bytes and chunk count. The
// outcome goes back to raft (reportSnapshot) so the follower's progress leaves the snapshot state.
//
// Bounded: at most SNAPSHOT_SENDS_MAX streams at once (past it the send is reported failed at
// once; raft retries), one chunk in memory per stream, and a stream that stops draining is waited
// for ('drain'), never buffered.

import type { Logger } from 'pino';
import {
  type ChannelCache, crc32, deadlineAfterMs, epochToWire, failpoint, FlotillaError, grpc, type PeerMeta, peerToWire, setClusterIdMetadata,
} from '../../common/index.js';
import { loadProtos, type raft_serverpb } from '../../proto/index.js';
import type { Message } from '../../raft/index.js';
import { messageToWire } from '../../raft-host/index.js';
import type { Peer } from '../peer.js';
import type { RaftSender } from '../poll-loop.js';
import { ChunkWriter, regionDataRanges } from './codec.js';
import type { GeneratedSnapshot, SnapshotGenerator } from './generator.js';
import { SNAPSHOT_CHUNK_BYTES_MAX, SNAPSHOT_SCAN_PAGE_KEYS, SNAPSHOT_SEND_TIMEOUT_MS, SNAPSHOT_SENDS_MAX } from './limits.js';
import type { SnapshotMetrics } from './metrics.js';

/** Failpoint: evaluated before each data chunk is written (tests pause or fail a stream midway). */
export const FAILPOINT_SNAPSHOT_SEND_CHUNK = 'store::snapshot-send-chunk';

export interface SnapshotSenderOptions {
  readonly storeId: number;
  readonly clusterId: bigint;
  readonly channels: ChannelCache;
  readonly resolveAddress: (storeId: number) => Promise<string>;
  readonly generator: SnapshotGenerator;
  readonly logger: Logger;
  readonly metrics?: SnapshotMetrics;
  /** The stream to `toPeerId` of `peer`'s region ended: tell raft (and mark the peer dirty). */
  readonly onOutcome: (peer: Peer, toPeerId: number, outcome: 'finish' | 'failure') => void;
}

export class SnapshotSender {
  private active = 0;
  private readonly log: Logger;
  private isClosed = false;
  private readonly streams = new Set<grpc.ClientWritableStream<raft_serverpb.SnapshotChunk__Input>>();

  constructor(private readonly options: SnapshotSenderOptions) {
    this.log = options.logger.child({ component: 'snapshot-sender' });
  }

  get activeSends(): number {
    return this.active;
  }

  /** Starts streaming `m` (a MsgSnap of `peer`'s region); the outcome is reported, never thrown. */
  send(peer: Peer, m: Message): void {
    const to = peer.peerById(m.to);
    const from = peer.peerById(peer.peerId);
    const index = m.snapshot?.metadata.index ?? 0;
    const held = to === undefined || from === undefined || this.active >= SNAPSHOT_SENDS_MAX || this.isClosed ? null : this.options.generator.acquire(peer.regionId, index);
    if (held === null || to === undefined || from === undefined) {
      this.log.debug({ regionId: peer.regionId, to: m.to, index, active: this.active }, 'snapshot send refused (limit, unknown peer or snapshot gone)');
      this.options.metrics?.count('sendFailed');
      this.options.onOutcome(peer, m.to, 'failure');
      return;
    }
    this.active++;
    const startedAt = performance.now();
    this.stream(peer, m, from, to, held).then(
      (bytes) => {
        this.options.metrics?.count('sent');
        this.options.metrics?.observeStage('send', (performance.now() - startedAt) / 1000);
        this.options.metrics?.addBytes('sent', bytes);
        this.log.info({ regionId: peer.regionId, toStoreId: to.storeId, index, bytes }, 'sent region snapshot');
        this.options.onOutcome(peer, m.to, 'finish');
      },
      (err: unknown) => {
        this.options.metrics?.count('sendFailed');
        this.log.warn({ regionId: peer.regionId, toStoreId: to.storeId, index, err }, 'region snapshot send failed');
        this.options.onOutcome(peer, m.to, 'failure');
      },
    ).finally(() => {
      this.active--;
      this.options.generator.release(held);
    }).catch(() => undefined);
  }

  private async stream(peer: Peer, m: Message, from: PeerMeta, to: PeerMeta, held: GeneratedSnapshot): Promise<number> {
    const address = await this.options.resolveAddress(to.storeId);
    const client = this.options.channels.get(loadProtos().flotilla.raft_serverpb.RaftTransport, address);
    const metadata = setClusterIdMetadata(new grpc.Metadata(), this.options.clusterId);
    let settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
    const done = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const call = client.Snapshot(metadata, { deadline: deadlineAfterMs(SNAPSHOT_SEND_TIMEOUT_MS) }, (err) => {
      if (err === null) settle!.resolve();
      else settle!.reject(new FlotillaError('Unavailable', `snapshot stream to store ${to.storeId}: ${err.message}`, { cause: err }));
    });
    done.catch(() => undefined); // awaited below; a failure before that point must not float
    this.streams.add(call);
    try {
      const region = peer.region;
      const header: raft_serverpb.SnapshotChunk__Input = {
        header: {
          message: {
            regionId: String(region.id), fromPeer: peerToWire(from), toPeer: peerToWire(to), message: messageToWire(m),
            regionEpoch: epochToWire(region.epoch), startKey: region.startKey, endKey: region.endKey,
          },
        },
      };
      await write(call, header, done);
      let crc = 0;
      let bytes = 0;
      let chunks = 0;
      const writer = new ChunkWriter(64 * 1024);
      const flushChunk = async (): Promise<void> => {
        const stall = failpoint(FAILPOINT_SNAPSHOT_SEND_CHUNK);
        if (stall !== undefined && typeof stall !== 'string') await stall;
        if (stall === 'err') throw new FlotillaError('Internal', `failpoint ${FAILPOINT_SNAPSHOT_SEND_CHUNK}`);
        const chunk = writer.take();
        crc = crc32(chunk, 0, chunk.length, crc);
        bytes += chunk.length;
        chunks++;
        await write(call, { data: chunk }, done);
      };
      for (const { range } of regionDataRanges(held.region)) {
        let from = range.start;
        for (;;) {
          if (this.isClosed) throw new FlotillaError('Unavailable', 'the store is stopping');
          const page = await held.engineSnapshot.scan(from, range.end, { limit: SNAPSHOT_SCAN_PAGE_KEYS });
          for (const kv of page) {
            writer.add(kv.key, kv.value);
            if (writer.bytes >= SNAPSHOT_CHUNK_BYTES_MAX) await flushChunk();
          }
          if (page.length < SNAPSHOT_SCAN_PAGE_KEYS) break;
          from = keyAfter(page[page.length - 1]!.key);
        }
      }
      if (writer.bytes > 0) await flushChunk();
      await write(call, { trailer: { crc32: crc, totalBytes: String(bytes), chunkCount: String(chunks) } }, done);
      call.end();
      await done;
      return bytes;
    } catch (err) {
      call.cancel();
      throw err;
    } finally {
      this.streams.delete(call);
    }
  }

  /** Cancels every stream (the store stops). */
  close(): void {
    this.isClosed = true;
    for (const call of this.streams) call.cancel();
    this.streams.clear();
  }
}

/** The smallest key after `key` (a scan page resumes there). */
function keyAfter(key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(key.length + 1);
  key.copy(out, 0);
  out[key.length] = 0;
  return out;
}

/** Writes one chunk; waits for 'drain' when the stream is full (or fails with the stream). */
async function write(call: grpc.ClientWritableStream<raft_serverpb.SnapshotChunk__Input>, chunk: raft_serverpb.SnapshotChunk__Input, done: Promise<void>): Promise<void> {
  if (call.write(chunk)) return;
  await Promise.race([new Promise<void>((resolve) => call.once('drain', () => resolve())), done.then(() => {
    throw new FlotillaError('Unavailable', 'snapshot stream ended before the snapshot was sent');
  })]);
}

/** A RaftSender that sends MsgSnap through `snapshots` and every other message through `inner`. */
export class SnapshotDivertingSender implements RaftSender {
  constructor(private readonly inner: RaftSender, private readonly snapshots: SnapshotSender) {}

  send(peer: Peer, messages: readonly Message[]): void {
    let hasSnapshot = false;
    for (const m of messages) if (m.type === 'MsgSnap') hasSnapshot = true;
    if (!hasSnapshot) {
      this.inner.send(peer, messages);
      return;
    }
    const rest: Message[] = [];
    for (const m of messages) {
      if (m.type === 'MsgSnap') this.snapshots.send(peer, m);
      else rest.push(m);
    }
    if (rest.length > 0) this.inner.send(peer, rest);
  }

  sendTombstone(peer: Peer, to: PeerMeta): void {
    this.inner.sendTombstone(peer, to);
  }

  flush(): void {
    this.inner.flush();
  }
}

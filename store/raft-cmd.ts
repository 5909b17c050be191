// What a region's raft entries carry: raft_serverpb.RaftCmdRequest — a header naming the region,
// the proposing peer and the epoch it was proposed under, then data modifications or one admin
// command (CompactLog, BatchSplit; merge arrives with F7, conf changes travel as raft ConfChange
// entries: conf-change.ts). Encoded with the proto
// codec; keys travel without their CF prefix byte (the cf field says which) and get it back at
// apply. Decoding answers a union on `kind`: an entry either writes, compacts, or names an admin
// command this store cannot apply (apply answers it with an error; it changes nothing).

import { CF_PREFIX, type DataCf, FlotillaError, type RegionEpoch, type RegionMeta, regionFromWire, regionToWire, u64ToSafeNumber, type WriteOp } from '../common/index.js';
import { messageCodec, type raft_serverpb } from '../proto/index.js';
import type { BatchSplitCommand, SplitSpec } from './split.js';
import { decodeWriteBatch, isWriteBatch } from './write-batch-cmd.js';

const codec = messageCodec('flotilla.raft_serverpb.RaftCmdRequest');

const CF_TO_WIRE: Readonly<Record<DataCf, raft_serverpb.ColumnFamily>> = {
  default: 'CfDefault',
  lock: 'CfLock',
  write: 'CfWrite',
  raw: 'CfRaw',
  latest: 'CfLatest',
};
const CF_FROM_WIRE: Readonly<Record<string, DataCf>> = { CfDefault: 'default', CfLock: 'lock', CfWrite: 'write', CfRaw: 'raw', CfLatest: 'latest' };

export interface WriteCommand {
  readonly regionId: number;
  readonly peerId: number;
  readonly epoch: RegionEpoch;
  readonly ops: readonly WriteOp[];
}

export function encodeWriteCommand(cmd: WriteCommand): Buffer {
  const writes = new Array<raft_serverpb.Modify__Input>(cmd.ops.length);
  for (let i = 0; i < cmd.ops.length; i++) {
    const op = cmd.ops[i]!;
    if (op.cf === 'local') throw new FlotillaError('Internal', 'a raft command may not write local keys');
    writes[i] = op.kind === 'put'
      ? { cf: CF_TO_WIRE[op.cf], kind: 'Put', key: op.key.subarray(1), value: op.value }
      : { cf: CF_TO_WIRE[op.cf], kind: 'Delete', key: op.key.subarray(1) };
  }
  return codec.encode({
    header: { regionId: String(cmd.regionId), peer: { id: String(cmd.peerId) }, regionEpoch: { confVer: String(cmd.epoch.confVer), version: String(cmd.epoch.version) } },
    writes,
  });
}

export interface CompactLogCommand {
  readonly regionId: number;
  readonly peerId: number;
  readonly epoch: RegionEpoch;
  /** The last index to drop (inclusive); its term is kept as the truncated term. */
  readonly compactIndex: number;
  readonly compactTerm: number;
}

export function encodeCompactLogCommand(cmd: CompactLogCommand): Buffer {
  return codec.encode({
    header: { regionId: String(cmd.regionId), peer: { id: String(cmd.peerId) }, regionEpoch: { confVer: String(cmd.epoch.confVer), version: String(cmd.epoch.version) } },
    adminRequest: { compactLog: { compactIndex: String(cmd.compactIndex), compactTerm: String(cmd.compactTerm) } },
  });
}

export function encodeBatchSplitCommand(cmd: BatchSplitCommand): Buffer {
  return codec.encode({
    header: { regionId: String(cmd.regionId), peer: { id: String(cmd.peerId) }, regionEpoch: { confVer: String(cmd.epoch.confVer), version: String(cmd.epoch.version) } },
    adminRequest: {
      batchSplit: {
        rightDerive: cmd.rightDerive,
        requests: cmd.splits.map((s) => ({
          splitKey: s.splitKey, newRegionId: String(s.newRegionId), newPeerIds: s.newPeerIds.map(String), approximateKeys: String(s.approximateKeys),
        })),
      },
    },
  });
}

/** Merge step 1, on the source region (store/merge.ts). */
export interface PrepareMergeCommand {
  readonly regionId: number;
  readonly peerId: number;
  readonly epoch: RegionEpoch;
  readonly minIndex: number;
  readonly target: RegionMeta;
}

/** Merge step 2, on the target region: `source` as of its PrepareMerge at `commit`. */
export interface CommitMergeCommand {
  readonly regionId: number;
  readonly peerId: number;
  readonly epoch: RegionEpoch;
  readonly source: RegionMeta;
  readonly commit: number;
  readonly commitTerm: number;
}

/** Merge abort, on the source region. */
export interface RollbackMergeCommand {
  readonly regionId: number;
  readonly peerId: number;
  readonly epoch: RegionEpoch;
  readonly commit: number;
}

function header(cmd: { readonly regionId: number; readonly peerId: number; readonly epoch: RegionEpoch }): raft_serverpb.RaftRequestHeader__Input {
  return { regionId: String(cmd.regionId), peer: { id: String(cmd.peerId) }, regionEpoch: { confVer: String(cmd.epoch.confVer), version: String(cmd.epoch.version) } };
}

export function encodePrepareMergeCommand(cmd: PrepareMergeCommand): Buffer {
  return codec.encode({ header: header(cmd), adminRequest: { prepareMerge: { minIndex: String(cmd.minIndex), target: regionToWire(cmd.target) } } });
}

export function encodeCommitMergeCommand(cmd: CommitMergeCommand): Buffer {
  return codec.encode({ header: header(cmd), adminRequest: { commitMerge: { source: regionToWire(cmd.source), commit: String(cmd.commit), commitTerm: String(cmd.commitTerm), entries: [] } } });
}

export function encodeRollbackMergeCommand(cmd: RollbackMergeCommand): Buffer {
  return codec.encode({ header: header(cmd), adminRequest: { rollbackMerge: { commit: String(cmd.commit) } } });
}

interface CommandHeader {
  readonly regionId: number;
  readonly epoch: RegionEpoch;
}

export type DecodedCommand =
  | CommandHeader & { readonly kind: 'write'; readonly ops: WriteOp[] }
  | CommandHeader & { readonly kind: 'compactLog'; readonly compactIndex: number; readonly compactTerm: number }
  | CommandHeader & { readonly kind: 'batchSplit'; readonly splits: readonly SplitSpec[]; readonly rightDerive: boolean }
  | CommandHeader & { readonly kind: 'prepareMerge'; readonly minIndex: number; readonly target: RegionMeta }
  | CommandHeader & { readonly kind: 'commitMerge'; readonly source: RegionMeta; readonly commit: number; readonly commitTerm: number }
  | CommandHeader & { readonly kind: 'rollbackMerge'; readonly commit: number }
  /** An admin command this store does not apply (apply answers it with an error). */
  | CommandHeader & { readonly kind: 'unsupportedAdmin'; readonly what: string };

/**
 * Decodes an entry's command: a write batch (write-batch-cmd.ts, what leaders propose for writes)
 * or a proto RaftCmdRequest (admin commands, and writes in logs of earlier versions). A malformed
 * one is Corruption (entries passed their checksum).
 */
export function decodeCommand(data: Uint8Array, what: string): DecodedCommand {
  if (isWriteBatch(data)) {
    const batch = decodeWriteBatch(data, what);
    return { regionId: batch.regionId, epoch: batch.epoch, kind: 'write', ops: batch.ops };
  }
  let req: raft_serverpb.RaftCmdRequest;
  try {
    req = codec.decode(data);
  } catch (err) {
    throw new FlotillaError('Corruption', `${what}: undecodable command: ${(err as Error).message}`);
  }
  const header = req.header;
  if (header === null || header.regionEpoch === null) throw new FlotillaError('Corruption', `${what}: command without a header`);
  const head: CommandHeader = {
    regionId: u64ToSafeNumber(header.regionId, 'header.regionId'),
    epoch: { confVer: u64ToSafeNumber(header.regionEpoch.confVer, 'epoch.confVer'), version: u64ToSafeNumber(header.regionEpoch.version, 'epoch.version') },
  };
  const admin = req.adminRequest;
  if (admin !== null) {
    if (req.writes.length > 0) throw new FlotillaError('Corruption', `${what}: a command with both writes and an admin request`);
    const split = admin.batchSplit;
    if (admin.kind === 'batchSplit' && split !== null && split !== undefined) {
      const splits = split.requests.map((r, i): SplitSpec => ({
        splitKey: Buffer.from(r.splitKey),
        newRegionId: u64ToSafeNumber(r.newRegionId, `batchSplit.requests[${i}].newRegionId`),
        newPeerIds: r.newPeerIds.map((id) => u64ToSafeNumber(id, `batchSplit.requests[${i}].newPeerIds`)),
        approximateKeys: u64ToSafeNumber(r.approximateKeys, `batchSplit.requests[${i}].approximateKeys`),
      }));
      return { ...head, kind: 'batchSplit', splits, rightDerive: split.rightDerive };
    }
    if (admin.kind === 'prepareMerge' && admin.prepareMerge !== null && admin.prepareMerge !== undefined) {
      return { ...head, kind: 'prepareMerge', minIndex: u64ToSafeNumber(admin.prepareMerge.minIndex, 'prepareMerge.minIndex'), target: corruptIfBad(() => regionFromWire(admin.prepareMerge!.target, 'prepareMerge.target'), what) };
    }
    if (admin.kind === 'commitMerge' && admin.commitMerge !== null && admin.commitMerge !== undefined) {
      return { ...head, kind: 'commitMerge', commit: u64ToSafeNumber(admin.commitMerge.commit, 'commitMerge.commit'), commitTerm: u64ToSafeNumber(admin.commitMerge.commitTerm, 'commitMerge.commitTerm'), source: corruptIfBad(() => regionFromWire(admin.commitMerge!.source, 'commitMerge.source'), what) };
    }
    if (admin.kind === 'rollbackMerge' && admin.rollbackMerge !== null && admin.rollbackMerge !== undefined) {
      return { ...head, kind: 'rollbackMerge', commit: u64ToSafeNumber(admin.rollbackMerge.commit, 'rollbackMerge.commit') };
    }
    const compact = admin.compactLog;
    if (admin.kind !== 'compactLog' || compact === null || compact === undefined) return { ...head, kind: 'unsupportedAdmin', what: String(admin.kind) };
    return {
      ...head,
      kind: 'compactLog',
      compactIndex: u64ToSafeNumber(compact.compactIndex, 'compactLog.compactIndex'),
      compactTerm: u64ToSafeNumber(compact.compactTerm, 'compactLog.compactTerm'),
    };
  }
  const ops = new Array<WriteOp>(req.writes.length);
  for (let i = 0; i < req.writes.length; i++) {
    const w = req.writes[i]!;
    const cf = CF_FROM_WIRE[w.cf];
    if (cf === undefined) throw new FlotillaError('Corruption', `${what}: unknown column family ${String(w.cf)}`);
    const key = Buffer.allocUnsafe(w.key.length + 1);
    key[0] = CF_PREFIX[cf];
    w.key.copy(key, 1);
    if (w.kind === 'Put') ops[i] = { kind: 'put', cf, key, value: w.value };
    else if (w.kind === 'Delete') ops[i] = { kind: 'delete', cf, key };
    else throw new FlotillaError('Corruption', `${what}: unsupported modification ${String(w.kind)}`);
  }
  return { ...head, kind: 'write', ops };
}

/** Entries passed their checksum: a region that does not parse in one is Corruption. */
function corruptIfBad<T>(parse: () => T, what: string): T {
  try {
    return parse();
  } catch (err) {
    throw new FlotillaError('Corruption', `${what}: ${(err as Error).message}`);
  }
}

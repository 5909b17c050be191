// Every `flotilla` command, by id (oclif's explicit discovery: package.json `oclif.commands`).
// Ids use ':' between topic and command; users type spaces (`flotilla store list`).
import type { Command } from '@oclif/core';
import { Backup, Restore } from './commands/backup.js';
import { Bench } from './commands/bench.js';
import { ClusterStatus } from './commands/cluster.js';
import { ConfigSet, ConfigShow } from './commands/config.js';
import { GcSafepoint, GcSafepointSet } from './commands/gc.js';
import { KvDelete, KvGet, KvPut, KvScan } from './commands/kv.js';
import { MemberAdd, MemberList, MemberRemove } from './commands/member.js';
import { OperatorCancel, OperatorList } from './commands/operator.js';
import { Playground } from './commands/playground.js';
import {
  RegionAddPeer, RegionKey, RegionList, RegionMerge, RegionRemovePeer, RegionScatter, RegionShow, RegionSplit, RegionTransferLeader,
} from './commands/region.js';
import { SchedulerAdd, SchedulerList, SchedulerRemove } from './commands/scheduler.js';
import { StoreDelete, StoreList, StoreShow } from './commands/store.js';
import { Tso } from './commands/tso.js';
import { Txn } from './commands/txn.js';

export const COMMANDS: Record<string, Command.Class> = {
  playground: Playground,
  'cluster:status': ClusterStatus,
  'member:list': MemberList,
  'member:add': MemberAdd,
  'member:remove': MemberRemove,
  'store:list': StoreList,
  'store:show': StoreShow,
  'store:delete': StoreDelete,
  'region:list': RegionList,
  'region:show': RegionShow,
  'region:key': RegionKey,
  'region:split': RegionSplit,
  'region:merge': RegionMerge,
  'region:transfer-leader': RegionTransferLeader,
  'region:add-peer': RegionAddPeer,
  'region:remove-peer': RegionRemovePeer,
  'region:scatter': RegionScatter,
  'operator:list': OperatorList,
  'operator:cancel': OperatorCancel,
  'scheduler:list': SchedulerList,
  'scheduler:add': SchedulerAdd,
  'scheduler:remove': SchedulerRemove,
  'config:show': ConfigShow,
  'config:set': ConfigSet,
  tso: Tso,
  'gc:safepoint': GcSafepoint,
  'gc:safepoint:set': GcSafepointSet,
  'kv:get': KvGet,
  'kv:put': KvPut,
  'kv:delete': KvDelete,
  'kv:scan': KvScan,
  txn: Txn,
  backup: Backup,
  restore: Restore,
  bench: Bench,
};

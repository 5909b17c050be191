// The systems under test a run needs: a Flotilla cluster started through deploy's LocalCluster
// (fresh temp dir, free ports) or an existing one (--pd), and an etcd cluster started by the peer
// module (bench/peers/etcd-cluster.ts). Each comes up as a TargetSpec, the server processes whose
// CPU is sampled, and a stop() that removes what was started.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from '../../deploy/index.js';
import type { BenchSettings } from './args.js';
import type { ServerProcess } from './cpu.js';
import { ETCD_TARGET_MODULE, importPeerModule, type EtcdClusterModule } from './open-target.js';
import type { TargetKind, TargetSpec } from './target.js';

export interface SystemUnderTest {
  readonly spec: TargetSpec;
  /** Processes this run started (empty for an existing cluster, or when the launcher does not say). */
  readonly servers: readonly ServerProcess[];
  /** Where its data and logs are; null for an existing cluster. */
  readonly dir: string | null;
  /** Preloads done on it (run.ts's tags), so that the next run on the same system skips them. */
  readonly preloaded: Set<string>;
  stop(): Promise<void>;
}

type StartedSystem = Omit<SystemUnderTest, 'preloaded'>;

/** etcd members the peer comparison starts (issue F9: 3 members on loopback). */
const ETCD_MEMBERS = 3;

export async function startSystem(kind: TargetKind, settings: BenchSettings): Promise<SystemUnderTest> {
  const sut = kind === 'flotilla' ? await startFlotilla(settings) : await startEtcd(settings);
  return { ...sut, preloaded: new Set<string>(), stop: once(() => sut.stop()) };
}

/**
 * stop() may be called twice at once (a run's finally and the Ctrl-C handler): both must wait
 * for the one stop in progress — an idempotent stop that returns at once the second time let the
 * harness exit with servers still running.
 */
function once(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  return () => (stopping ??= stop());
}

async function startFlotilla(settings: BenchSettings): Promise<StartedSystem> {
  if (settings.pdEndpoints !== null) {
    return { spec: { kind: 'flotilla', pdEndpoints: settings.pdEndpoints }, servers: [], dir: null, stop: () => Promise.resolve() };
  }
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-'));
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({
      dataDir: dir, pds: settings.pds, stores: settings.stores, clean: false, portMode: 'free',
      pdClientPort: 0, storePortBase: 0, statusPortBase: 0, logLevel: settings.serverLogLevel,
    });
  } catch (err) {
    if (!settings.isKeep) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const servers: ServerProcess[] = [
    ...cluster.info.pdMembers.map((p) => ({ name: p.name, pid: p.pid })),
    ...cluster.info.stores.map((s) => ({ name: s.name, pid: s.pid })),
  ];
  return {
    spec: { kind: 'flotilla', pdEndpoints: cluster.info.pdMembers.map((p) => p.clientAddress) },
    servers,
    dir,
    stop: async () => {
      await cluster.stop();
      if (!settings.isKeep) await rm(dir, { recursive: true, force: true });
    },
  };
}

const ETCD_CLUSTER_MODULE = '../peers/etcd-cluster.js';

/** Fails (PeerMissingError, one line) before anything starts when a target's modules are missing. */
export async function checkSystemAvailable(kind: TargetKind): Promise<void> {
  if (kind === 'etcd') {
    await importPeerModule<EtcdClusterModule>(ETCD_CLUSTER_MODULE, 'startEtcdCluster');
    await openTargetModuleCheck();
  }
}

async function openTargetModuleCheck(): Promise<void> {
  await importPeerModule<unknown>(ETCD_TARGET_MODULE, 'openEtcdTarget');
}

async function startEtcd(settings: BenchSettings): Promise<StartedSystem> {
  const mod = await importPeerModule<EtcdClusterModule>(ETCD_CLUSTER_MODULE, 'startEtcdCluster');
  const dir = await mkdtemp(join(tmpdir(), 'etcd-bench-'));
  let cluster: Awaited<ReturnType<EtcdClusterModule['startEtcdCluster']>>;
  try {
    cluster = await mod.startEtcdCluster({ members: ETCD_MEMBERS, dir });
  } catch (err) {
    if (!settings.isKeep) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  // The peer module may say which processes it started (`pids`); the interface does not require it.
  const pids = (cluster as { pids?: unknown }).pids;
  const servers = Array.isArray(pids) ? pids.filter((p): p is number => typeof p === 'number').map((pid, i) => ({ name: `etcd${i + 1}`, pid })) : [];
  return {
    spec: { kind: 'etcd', endpoints: cluster.endpoints, transport: settings.etcdTransport },
    servers,
    dir,
    stop: async () => {
      await cluster.stop();
      if (!settings.isKeep) await rm(dir, { recursive: true, force: true });
    },
  };
}

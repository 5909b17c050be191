// The systems under test a run needs: a Flotilla cluster started through deploy's LocalCluster
// (fresh temp dir, free ports) or an existing one (--pd), and an etcd cluster started by the peer
// module (bench/peers/etcd-cluster.ts). Each comes up as a TargetSpec, the server processes whose
// CPU is sampled, and a stop() that removes what was started.

import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlotillaError } from '../../common/index.js';
import { LocalCluster, waitFor } from '../../deploy/index.js';
import { summarizeCpuProfileFile, type SelfTimeEntry } from '../cpuprofile-top.js';
import { CPU_PROF_DIR_ENV } from '../store-bench-protocol.js';
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
  /** Where the servers' CPU profiles are written when they stop (--cpu-prof); null when not profiled. */
  readonly profileDir: string | null;
  stop(): Promise<void>;
}

/** One server's CPU profile, summarized: the functions with the most self time. */
export interface ServerProfile {
  /** The cluster the server belonged to ("1 PD + 3 stores"). */
  readonly cluster: string;
  readonly server: string;
  readonly path: string;
  readonly busyMs: number;
  readonly totalMs: number;
  /** By self time, (idle) left out. */
  readonly top: readonly SelfTimeEntry[];
}

/** Functions named per server in the summary. */
export const PROFILE_TOP_FUNCTIONS = 8;

/**
 * The profiles the stopped servers of `sut` left (cpu-profile-preload.ts writes CPU.<pid>.cpuprofile
 * at exit), matched to server names by pid. A server killed before it could write one is missing.
 */
export async function collectProfiles(sut: SystemUnderTest, cluster: string, workerProfileDir: string | null = null): Promise<ServerProfile[]> {
  const profiles: ServerProfile[] = [];
  // The load generator's workers (node's own file names: CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile).
  if (workerProfileDir !== null) {
    const workerFiles = (await readdir(workerProfileDir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile')).sort();
    for (const file of workerFiles) profiles.push(await profileOf(cluster, `worker (pid ${file.split('.')[3] ?? '?'})`, join(workerProfileDir, file)));
  }
  if (sut.profileDir === null) return profiles;
  const files = (await readdir(sut.profileDir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  for (const server of sut.servers) {
    const file = files.find((f) => f === `CPU.${server.pid}.cpuprofile`);
    if (file === undefined) continue;
    profiles.push(await profileOf(cluster, server.name, join(sut.profileDir, file)));
  }
  return profiles;
}

async function profileOf(cluster: string, server: string, path: string): Promise<ServerProfile> {
  const summary = await summarizeCpuProfileFile(path, PROFILE_TOP_FUNCTIONS + 1);
  return {
    cluster, server, path, busyMs: summary.totalMs - summary.idleMs, totalMs: summary.totalMs,
    top: summary.top.filter((e) => e.functionName !== '(idle)').slice(0, PROFILE_TOP_FUNCTIONS),
  };
}

/** bench/cpu-profile-preload.js, next to this folder once compiled. */
const CPU_PROFILE_PRELOAD = join(dirname(fileURLToPath(import.meta.url)), '..', 'cpu-profile-preload.js');

/**
 * Runs `start` with the environment that makes every node process it spawns profile itself:
 * deploy/'s launcher passes this process's environment to its children and has no option for
 * more, and node 20 refuses --cpu-prof in NODE_OPTIONS, so NODE_OPTIONS=--import the preload and
 * the profile dir are set for the duration of the start and restored after (the workers, forked
 * later, are not profiled).
 */
async function withProfilingEnv<T>(profileDir: string, start: () => Promise<T>): Promise<T> {
  const saved = { nodeOptions: process.env['NODE_OPTIONS'], dir: process.env[CPU_PROF_DIR_ENV] };
  process.env['NODE_OPTIONS'] = `${saved.nodeOptions ?? ''} --import ${CPU_PROFILE_PRELOAD}`.trim();
  process.env[CPU_PROF_DIR_ENV] = profileDir;
  try {
    return await start();
  } finally {
    restoreEnv('NODE_OPTIONS', saved.nodeOptions);
    restoreEnv(CPU_PROF_DIR_ENV, saved.dir);
  }
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

type StartedSystem = Omit<SystemUnderTest, 'preloaded' | 'profileDir'>;

/** etcd members the peer comparison starts (issue F9: 3 members on loopback). */
const ETCD_MEMBERS = 3;

/** `profileDir`: profile the Flotilla servers started into it (ignored for etcd and an existing cluster). */
export async function startSystem(kind: TargetKind, settings: BenchSettings, profileDir: string | null): Promise<SystemUnderTest> {
  const isProfiled = kind === 'flotilla' && settings.pdEndpoints === null && profileDir !== null;
  if (isProfiled) await mkdir(profileDir, { recursive: true });
  const sut = kind === 'flotilla' ? await (isProfiled ? withProfilingEnv(profileDir, () => startFlotilla(settings)) : startFlotilla(settings)) : await startEtcd(settings);
  return { ...sut, preloaded: new Set<string>(), profileDir: isProfiled ? profileDir : null, stop: once(() => sut.stop()) };
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
    return { spec: { kind: 'flotilla', pdEndpoints: settings.pdEndpoints, replicaRead: settings.replicaRead }, servers: [], dir: null, stop: () => Promise.resolve() };
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
  const voters = Math.min(REPLICAS_DEFAULT, settings.stores);
  if (!(await waitForFullReplication(cluster.info.pdMembers.map((p) => p.httpUrl), voters))) {
    // Best effort: a run on a partly replicated region is still a run; the line says so.
    console.error(`flotilla: the regions did not all have ${voters} voters within ${REPLICATION_WAIT_MS / 1000} s; measuring anyway`);
  }
  const servers: ServerProcess[] = [
    ...cluster.info.pdMembers.map((p) => ({ name: p.name, pid: p.pid })),
    ...cluster.info.stores.map((s) => ({ name: s.name, pid: s.pid })),
  ];
  return {
    spec: { kind: 'flotilla', pdEndpoints: cluster.info.pdMembers.map((p) => p.clientAddress), replicaRead: settings.replicaRead },
    servers,
    dir,
    stop: async () => {
      await cluster.stop();
      if (!settings.isKeep) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** PD's default replica count (maxPeerCount): a region is fully replicated with this many voters, or one per store if fewer. */
const REPLICAS_DEFAULT = 3;
/** PD adds the first region's replicas within seconds of the stores' first heartbeats; past this the run starts anyway. */
const REPLICATION_WAIT_MS = 20_000;

/**
 * LocalCluster.start resolves once the first region has a leader — on one store: PD then adds
 * the other replicas (learner, snapshot, promotion). A run started at once measured that: in an
 * open-loop raw-put run the first 3 s served 16–320 puts/s. Waits (at most REPLICATION_WAIT_MS)
 * until every region PD lists has `voters` voters and a leader; false when it gave up waiting.
 */
async function waitForFullReplication(pdHttpUrls: readonly string[], voters: number): Promise<boolean> {
  try {
    await waitForVoters(pdHttpUrls, voters);
    return true;
  } catch (err) {
    if (err instanceof FlotillaError && err.code === 'DeadlineExceeded') return false;
    throw err;
  }
}

async function waitForVoters(pdHttpUrls: readonly string[], voters: number): Promise<void> {
  await waitFor(`every region to have ${voters} voters`, async () => {
    for (const url of pdHttpUrls) {
      const res = await fetch(`${url}/pd/api/v1/regions?limit=100`, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
      if (res?.status !== 200) continue;
      const body = (await res.json()) as { regions?: { leaderPeerId?: number; peers?: { role?: string }[] }[] };
      const regions = body.regions ?? [];
      const isReplicated = regions.length > 0 && regions.every((r) => (r.leaderPeerId ?? 0) !== 0 && (r.peers ?? []).filter((p) => p.role === 'voter').length >= voters);
      return isReplicated ? true : undefined;
    }
    return undefined;
  }, { timeoutMs: REPLICATION_WAIT_MS, intervalMs: 100 });
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

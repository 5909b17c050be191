// A 3-member etcd cluster on 127.0.0.1 for the F9 peer comparison: Debian's `etcd` binary, free
// ports, fresh data dirs, static bootstrap, output to one log file a member. The invariant: once
// startEtcdCluster has resolved, every member answers /health; whether it resolves or throws, no
// member it started outlives stop() (or the failure that ended the start).

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { FlotillaError } from '../../common/index.js';
import { freePort, LocalProcess, waitFor } from '../../deploy/index.js';

/** Where Debian's etcd-server puts the binary; looked at when PATH has no `etcd` (e.g. a bare env). */
const ETCD_BINARY_DEBIAN = '/usr/bin/etcd';

export const ETCD_NOT_FOUND_MESSAGE = "etcd not found: run `npm run bench:setup` (installs Debian's etcd-server)";

/**
 * How long a fresh cluster may take to elect a leader and answer /health on every member. etcd's
 * default election timeout is 1 s; a 3-member bootstrap on a loaded 2-core machine takes 1–3 s.
 */
export const ETCD_READY_TIMEOUT_MS_DEFAULT = 30_000;
/** One /health request; etcd answers it with a linearizable read, so it waits for a leader. */
const ETCD_HEALTH_REQUEST_TIMEOUT_MS = 2_000;
/**
 * Asking a member whether it leads. A member that has no leader yet does not serve its client URL
 * at all (etcd 3.4 serves clients only once it has joined through raft), so the ask hangs; a
 * healthy member answers in milliseconds. Unanswered means "not the leader" (see stopMembers).
 */
const ETCD_ROLE_PROBE_TIMEOUT_MS = 1_000;
/** SIGTERM to SIGKILL. etcd flushes its WAL and bbolt on SIGTERM: well under a second idle. */
const ETCD_STOP_GRACE_MS = 5_000;
/** A member count must be odd and small: the comparison runs on one 2-core machine. */
const ETCD_MEMBERS_MAX = 7;

export interface EtcdClusterOptions {
  /** How many members; the F9 comparison uses 3 (Flotilla's replica count). */
  readonly members: number;
  /** A directory for the members' data dirs (`<dir>/<name>.etcd`) and logs (`<dir>/<name>.log`). */
  readonly dir: string;
  /** An etcd binary; default: `etcd` on PATH, else /usr/bin/etcd. */
  readonly etcdBinary?: string;
  readonly readyTimeoutMs?: number;
}

export interface EtcdCluster {
  /** Client URLs, one a member (`http://127.0.0.1:<port>`), in member order. */
  readonly endpoints: string[];
  /** The members' process ids, in member order. */
  readonly pids: number[];
  /** The members' log files, in member order. */
  readonly logPaths: string[];
  /** Stops every member (SIGTERM, then SIGKILL after a grace period); resolves once all exited. */
  stop(): Promise<void>;
}

/** One member's identity and ports (client: the API; peer: raft between members). */
export interface EtcdMemberSpec {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

/** The etcd binary this machine has (`etcd` on PATH, else Debian's path), or undefined. */
export async function findEtcdBinary(): Promise<string | undefined> {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  for (const candidate of [...dirs.map((d) => join(d, 'etcd')), ETCD_BINARY_DEBIAN]) {
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false; // missing or not executable: not a candidate, the caller tries the next
  }
}

/**
 * The flags one member runs with. Everything that touches durability or raft timing is etcd's
 * default (fsync on every WAL append, 100 ms heartbeat, 1 s election, snapshot every 100,000
 * entries) so the comparison is fair; what is set is only placement and identity:
 * - client and peer URLs on 127.0.0.1 (plain http, as Flotilla's loopback gRPC is plaintext);
 * - `--initial-cluster` with every member, state `new`, and a token unique to this start, so a
 *   member of an older cluster that still holds a reused port cannot join this one;
 * - `--logger zap`: etcd 3.4's default logger (capnslog) is deprecated and says so on start-up;
 *   zap writes JSON lines to stderr, which go to the member's log file. Logging, not the data path.
 */
export function etcdArgs(member: EtcdMemberSpec, cluster: readonly EtcdMemberSpec[], dir: string, clusterToken: string): string[] {
  const clientUrl = `http://127.0.0.1:${member.clientPort}`;
  const peerUrl = `http://127.0.0.1:${member.peerPort}`;
  return [
    '--name', member.name,
    '--data-dir', join(dir, `${member.name}.etcd`),
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', cluster.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(','),
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', clusterToken,
    '--logger', 'zap',
  ];
}

/**
 * Starts `members` etcd processes and waits until every one answers GET /health with
 * `"health":"true"` (etcd serves that only with a leader and a working quorum). Throws
 * FlotillaError 'Unavailable' with ETCD_NOT_FOUND_MESSAGE when there is no binary, 'Unavailable'
 * naming the member and its log when one exits during start-up, 'DeadlineExceeded' when the
 * cluster is not healthy in time; in every failure the members already started are stopped first.
 */
export async function startEtcdCluster(options: EtcdClusterOptions): Promise<EtcdCluster> {
  if (!Number.isSafeInteger(options.members) || options.members < 1 || options.members > ETCD_MEMBERS_MAX || options.members % 2 === 0) {
    throw new FlotillaError('InvalidArgument', `etcd members: ${options.members} is not an odd count from 1 to ${ETCD_MEMBERS_MAX}`);
  }
  const binary = options.etcdBinary ?? (await findEtcdBinary());
  if (binary === undefined || !(await isExecutable(binary))) throw new FlotillaError('Unavailable', ETCD_NOT_FOUND_MESSAGE, { details: { binary } });
  await mkdir(options.dir, { recursive: true });

  const specs: EtcdMemberSpec[] = [];
  for (let i = 1; i <= options.members; i++) specs.push({ name: `etcd${i}`, clientPort: await freePort(), peerPort: await freePort() });
  const clusterToken = `flotilla-bench-${randomUUID()}`;
  const processes: LocalProcess[] = [];
  const endpoints = specs.map((s) => `http://127.0.0.1:${s.clientPort}`);
  const stop = (): Promise<void> => stopMembers(processes, endpoints);
  try {
    for (const spec of specs) {
      processes.push(await spawnEtcd(binary, spec.name, etcdArgs(spec, specs, options.dir, clusterToken), join(options.dir, `${spec.name}.log`)));
    }
    await waitFor(`etcd members ${specs.map((s) => s.name).join(', ')} to report healthy`, () => allHealthy(processes, endpoints), {
      timeoutMs: options.readyTimeoutMs ?? ETCD_READY_TIMEOUT_MS_DEFAULT,
      intervalMs: 50,
      isFatal: (err) => err instanceof MemberExitedError,
    });
    return { endpoints, pids: processes.map((p) => p.pid), logPaths: processes.map((p) => p.logPath), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Stops followers first, together, then the leader. On SIGTERM an etcd leader hands leadership to
 * its longest-connected peer and waits for the hand-over; stopped all at once, the leader picked a
 * follower that was itself stopping and waited out its full request timeout (5 s) every time.
 * Once the followers are gone it finds no connected peer, skips the hand-over and exits at once.
 * A member whose role is unknown (it did not answer) is stopped with the followers.
 */
async function stopMembers(processes: readonly LocalProcess[], endpoints: readonly string[]): Promise<void> {
  const isLeader = await Promise.all(processes.map((p, i) => (p.isRunning ? isMemberLeader(endpoints[i] ?? '') : Promise.resolve(false))));
  await Promise.all(processes.filter((_, i) => isLeader[i] !== true).map((p) => p.stop(ETCD_STOP_GRACE_MS)));
  await Promise.all(processes.filter((_, i) => isLeader[i] === true).map((p) => p.stop(ETCD_STOP_GRACE_MS)));
}

/** Whether the member at `endpoint` says it leads (its Maintenance.Status via etcd's JSON gateway). */
async function isMemberLeader(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(ETCD_ROLE_PROBE_TIMEOUT_MS) });
    const body = (await res.json()) as { header?: { member_id?: unknown }; leader?: unknown };
    return res.status === 200 && body.leader !== undefined && body.leader === body.header?.member_id;
  } catch {
    return false; // unknown role (not serving yet, or gone): stopped with the followers, which is safe
  }
}

/**
 * true once every member's /health says so; throws MemberExitedError when a member has exited —
 * also while the health requests are out: a member without a leader holds /health until the
 * request times out, and a dead peer is the usual reason there is no leader.
 */
async function allHealthy(processes: readonly LocalProcess[], endpoints: readonly string[]): Promise<true | undefined> {
  const firstExit = Promise.race(processes.map(async (p) => {
    const code = await p.waitExit();
    throw new MemberExitedError(`${p.name} exited with code ${String(code)} before the cluster was healthy (log: ${p.logPath})`);
  }));
  const answers = await Promise.race([Promise.all(endpoints.map((e) => isHealthy(e))), firstExit]);
  return answers.every((healthy) => healthy) ? true : undefined;
}

async function isHealthy(endpoint: string): Promise<boolean> {
  const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(ETCD_HEALTH_REQUEST_TIMEOUT_MS) });
  if (res.status !== 200) return false;
  const body = (await res.json()) as { health?: unknown };
  return body.health === 'true';
}

async function spawnEtcd(binary: string, name: string, args: readonly string[], logPath: string): Promise<LocalProcess> {
  const out = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (err) => {
      out.end();
      reject(new FlotillaError('Unavailable', `cannot start ${name} (${binary}): ${err.message}`, { cause: err }));
    });
  });
  return new LocalProcess(name, child, logPath);
}

/** A member exited while we waited for health: waiting longer cannot help. */
class MemberExitedError extends FlotillaError {
  override readonly name = 'MemberExitedError';
  constructor(message: string) {
    super('Unavailable', message);
  }
}

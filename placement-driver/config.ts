// flotilla-pd's configuration: flags (--name, --data-dir, --client-urls, --peer-urls, --http-url,
// --initial-cluster, …), env (FLOTILLA_PD_*), a JSON file (--config), validated at start.

import { ConfigError, field, loadConfigWithFile, parseHostPort, type ConfigOf, type FieldSpec } from '../common/index.js';

export const PD_ENV_PREFIX = 'FLOTILLA_PD';

/** A field whose empty default stands for a value derived from other fields: --help shows `derived`, once. */
function derivedDefault(spec: FieldSpec<string>, derived: string): FieldSpec<string> {
  return { ...spec, show: (v) => (v === '' ? derived : spec.show(v)) };
}

export const PD_CONFIG_SCHEMA = {
  name: field.string({ doc: 'this member\'s name, unique in the cluster', nonEmpty: true, default: 'pd1' }),
  dataDir: derivedDefault(field.string({ doc: 'data directory', default: '' }), './flotilla-pd.<name>'),
  clientUrls: field.list({ doc: 'host:port for the PD gRPC API (clients, stores); port 0 picks a free port', default: ['127.0.0.1:2379'], minItems: 1 }),
  peerUrls: field.list({ doc: 'host:port for raft traffic between PD members', default: ['127.0.0.1:2380'], minItems: 1 }),
  httpUrl: field.string({ doc: 'host:port for the HTTP dashboard API and /metrics; port 0 picks a free port', default: '127.0.0.1:2381' }),
  initialCluster: derivedDefault(field.string({ doc: 'every initial member as name=peerUrl, comma-separated', default: '' }), '<name>=<first peer url>'),
  initialClusterState: field.enumOf(['new', 'existing'] as const, { doc: '"new" forms a cluster from --initial-cluster; "existing" joins one (after POST /pd/api/v1/members on its leader)', default: 'new' }),
  tickMs: field.durationMs({ doc: 'raft tick interval', default: 100, min: 1, max: 10_000 }),
  electionTicks: field.int({ doc: 'ticks without a leader before an election', default: 10, min: 2, max: 1_000 }),
  heartbeatTicks: field.int({ doc: 'ticks between leader heartbeats', default: 1, min: 1, max: 1_000 }),
  membershipSettleMs: field.durationMs({ doc: 'the replica checker leaves a region\'s stray learners, extra voters and shared-host voters alone until its membership has not changed for this long (someone may be mid-change)', default: 60_000, min: 0, max: 86_400_000 }),
  regionCooldownMs: field.durationMs({ doc: 'a region any scheduler just moved is left alone by the balancing ones (balance-leader, balance-region, hot-region) this long, so that its new placement settles first', default: 30_000, min: 0, max: 86_400_000 }),
  scheduleIntervalMs: field.durationMs({ doc: 'how often the leader runs its schedulers (replica checker, balance, merge, hot region)', default: 1_000, min: 10, max: 600_000 }),
  logLevel: field.enumOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const, { doc: 'log level', default: 'info' }),
};

export type PdConfig = ConfigOf<typeof PD_CONFIG_SCHEMA>;

/** `http://127.0.0.1:2380/` → `127.0.0.1:2380` (common/config.ts parseHostPort). */
export const hostPort = parseHostPort;

/** Parses `pd1=127.0.0.1:2380,pd2=…` into name → peer address. */
export function parseInitialCluster(text: string, fieldName = '--initial-cluster'): Map<string, string> {
  const members = new Map<string, string>();
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(fieldName, `${JSON.stringify(part)} is not name=peerUrl`);
    const name = part.slice(0, eq);
    if (members.has(name)) throw new ConfigError(fieldName, `member ${name} is listed twice`);
    members.set(name, hostPort(part.slice(eq + 1), fieldName).address);
  }
  if (members.size === 0) throw new ConfigError(fieldName, 'names no member');
  return members;
}

/** The initial members (name → peer address): --initial-cluster, or just this member by default. */
export function initialClusterOf(config: Pick<PdConfig, 'name' | 'initialCluster' | 'peerUrls'>): Map<string, string> {
  return parseInitialCluster(config.initialCluster === '' ? `${config.name}=${config.peerUrls[0]!}` : config.initialCluster);
}

/** A member's raft id, derived from its name (FNV-1a 64, low 52 bits, never 0) so all members agree. */
export function memberIdOf(name: string): number {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(name, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  const id = Number(h & ((1n << 52n) - 1n));
  return id === 0 ? 1 : id;
}

export async function loadPdConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<PdConfig> {
  const config = await loadConfigWithFile(PD_CONFIG_SCHEMA, {
    argv,
    env,
    envPrefix: PD_ENV_PREFIX,
    validate: (c) => (Number(c['electionTicks']) <= Number(c['heartbeatTicks']) ? { field: '--election-ticks', reason: 'must be greater than --heartbeat-ticks' } : null),
  });
  for (const u of config.clientUrls) hostPort(u, '--client-urls');
  for (const u of config.peerUrls) hostPort(u, '--peer-urls');
  hostPort(config.httpUrl, '--http-url');
  const initial = initialClusterOf(config);
  if (config.initialClusterState === 'new' && !initial.has(config.name)) {
    throw new ConfigError('--initial-cluster', `does not list this member (${config.name})`);
  }
  return config;
}

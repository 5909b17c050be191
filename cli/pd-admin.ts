// The admin side of PD for the CLI: the JSON API under /pd/api/v1 on the PD leader's HTTP
// address. The leader is found through the gRPC endpoints the user gives (`--pd`, GetMembers
// names every member's HTTP URL), so one flag serves data and admin commands alike. A follower's
// 503 (leader changed meanwhile) is followed to the new leader.

import { PdClient, type PdMembers } from '../client/index.js';
import { CliError } from './errors.js';

/** Requests to PD's HTTP API time out after this long. */
export const PD_HTTP_TIMEOUT_MS = 10_000;
/** Leader changes followed per request before giving up. */
export const LEADER_FOLLOWS_MAX = 3;

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

export class PdAdmin {
  private constructor(
    readonly pd: PdClient,
    private baseUrl: string,
  ) {}

  /** Connects to PD through `endpoints` (host:port of client gRPC) and finds the leader's HTTP API. */
  static async connect(endpoints: readonly string[], timeoutMs: number): Promise<PdAdmin> {
    return PdAdmin.over(await PdClient.connect({ pdEndpoints: endpoints, requestTimeoutMs: timeoutMs }));
  }

  /** Over an open PD client (closed here when no leader's HTTP API is found, else by close()). */
  static async over(pd: PdClient): Promise<PdAdmin> {
    try {
      return new PdAdmin(pd, leaderHttpUrl(await pd.getMembers()));
    } catch (err) {
      pd.close();
      throw err;
    }
  }

  /** The leader's HTTP base URL ("http://host:port"). */
  get httpUrl(): string {
    return this.baseUrl;
  }

  members(): Promise<PdMembers> {
    return this.pd.getMembers();
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  close(): void {
    this.pd.close();
  }

  private async request<T>(method: HttpMethod, path: string, body?: unknown): Promise<T> {
    for (let follows = 0; ; follows++) {
      const url = `${this.baseUrl}/pd/api/v1${path}`;
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          signal: AbortSignal.timeout(PD_HTTP_TIMEOUT_MS),
          ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
        });
      } catch (err) {
        throw new CliError(`PD's HTTP API at ${this.baseUrl} is unreachable (${err instanceof Error ? err.message : String(err)})`);
      }
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? null : JSON.parse(text);
      } catch {
        throw new CliError(`PD answered ${method} ${path} with ${res.status} and a body that is not JSON`);
      }
      if (res.ok) return parsed as T;
      const error = (parsed ?? {}) as { code?: unknown; message?: unknown };
      const code = typeof error.code === 'string' ? error.code : `HTTP${res.status}`;
      if (code === 'PdNotLeader' && follows < LEADER_FOLLOWS_MAX) {
        this.baseUrl = leaderHttpUrl(await this.pd.getMembers());
        continue;
      }
      const message = typeof error.message === 'string' ? error.message : `HTTP ${res.status}`;
      throw new CliError(`PD: ${message} [${code}]`, 1, code);
    }
  }
}

function leaderHttpUrl(members: PdMembers): string {
  if (members.leader === null) throw new CliError('PD has no leader right now (an election is running?): try again in a moment', 1, 'Unavailable');
  const url = members.leader.statusUrl;
  if (url === '') throw new CliError(`PD leader ${members.leader.name} has not reported its HTTP address yet: try again in a moment`, 1, 'Unavailable');
  return url.replace(/\/+$/, '');
}

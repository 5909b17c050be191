// INTERIM PD client (replaced by the full one from the f6-pd branch): finds the leader through
// connectPdLeader, batches timestamps through TsoClient, and looks regions and stores up with
// unary calls, rediscovering the leader on any failure.

import {
  ChannelCache, channelCredentials, errorFromGrpc, errorFromWire, FlotillaError, INSECURE, peerFromWire, regionFromWire, storeFromWire,
  type Logger, type PeerMeta, type RegionMeta, type SecurityConfig, type StoreMeta, type Ts,
} from '../common/index.js';
import type { pdpb } from '../proto/index.js';
import { connectPdLeader, type PdLeaderConnection } from './pd-connect.js';
import { TsoClient } from './tso-client.js';

export interface RegionRoute { readonly region: RegionMeta; readonly leader: PeerMeta | null }
export interface PdClientOptions {
  readonly pdEndpoints: readonly string[];
  readonly requestTimeoutMs?: number;
  readonly security?: SecurityConfig;
  readonly logger?: Logger;
}

export class PdClient {
  private readonly stores = new Map<number, StoreMeta>();
  private constructor(private conn: PdLeaderConnection, private readonly tso: TsoClient, private readonly channels: ChannelCache, private readonly options: PdClientOptions) {}

  static async connect(options: PdClientOptions): Promise<PdClient> {
    const channels = new ChannelCache(await channelCredentials(options.security ?? INSECURE));
    const conn = await connectPdLeader(options.pdEndpoints, channels);
    return new PdClient(conn, new TsoClient({ client: conn.client, clusterId: conn.clusterId }), channels, options);
  }

  get clusterId(): string {
    return this.conn.clusterId;
  }

  async getTimestamp(): Promise<Ts> {
    const deadline = Date.now() + (this.options.requestTimeoutMs ?? 5_000);
    for (;;) {
      try {
        return await this.tso.getTimestamp();
      } catch (err) {
        if (Date.now() >= deadline) throw err;
        await this.rediscover();
      }
    }
  }

  private async rediscover(): Promise<void> {
    await new Promise((r) => setTimeout(r, 50));
    try {
      this.conn = await connectPdLeader(this.options.pdEndpoints, this.channels);
      this.tso.setClient(this.conn.client);
    } catch {
      // keep the old one; the caller retries until its deadline
    }
  }

  private async unary<Req, Resp extends { header: pdpb.ResponseHeader | null }>(method: string, req: Req, deadlineMs: number): Promise<Resp> {
    for (;;) {
      try {
        const resp = await new Promise<Resp>((resolve, reject) => {
          const fn = (this.conn.client as unknown as Record<string, (r: unknown, o: unknown, cb: (e: Error | null, r?: Resp) => void) => void>)[method]!.bind(this.conn.client);
          fn({ ...req, header: { clusterId: this.conn.clusterId, senderId: '0' } }, { deadline: new Date(deadlineMs) }, (e, r) => (e !== null || r === undefined ? reject(errorFromGrpc(e ?? new Error('no response'))) : resolve(r)));
        });
        const e = resp.header?.error;
        if (e !== null && e !== undefined) throw errorFromWire(e);
        return resp;
      } catch (err) {
        if (Date.now() >= deadlineMs || !(err instanceof FlotillaError) || !err.retryable) throw err;
        await this.rediscover();
      }
    }
  }

  private deadline(d: number | undefined): number {
    return d ?? Date.now() + (this.options.requestTimeoutMs ?? 5_000);
  }

  async getRegionByKey(encodedKey: Buffer, deadlineMs?: number): Promise<RegionRoute | null> {
    const r = await this.unary<unknown, pdpb.GetRegionResponse>('GetRegion', { regionKey: encodedKey }, this.deadline(deadlineMs));
    return r.region === null ? null : { region: regionFromWire(r.region), leader: r.leader === null ? null : peerFromWire(r.leader, 'leader') };
  }

  async getRegionById(regionId: number, deadlineMs?: number): Promise<RegionRoute | null> {
    const r = await this.unary<unknown, pdpb.GetRegionResponse>('GetRegionByID', { regionId: String(regionId) }, this.deadline(deadlineMs));
    return r.region === null ? null : { region: regionFromWire(r.region), leader: r.leader === null ? null : peerFromWire(r.leader, 'leader') };
  }

  async scanRegions(startEncoded: Buffer, endEncoded: Buffer, limit: number, deadlineMs?: number): Promise<RegionRoute[]> {
    const r = await this.unary<unknown, pdpb.ScanRegionsResponse>('ScanRegions', { startKey: startEncoded, endKey: endEncoded, limit }, this.deadline(deadlineMs));
    return r.regions.map((x) => ({ region: regionFromWire(x.region), leader: x.leader === null ? null : peerFromWire(x.leader, 'leader') }));
  }

  async getStore(storeId: number, deadlineMs?: number): Promise<StoreMeta> {
    const cached = this.stores.get(storeId);
    if (cached !== undefined) return cached;
    const r = await this.unary<unknown, pdpb.GetStoreResponse>('GetStore', { storeId: String(storeId) }, this.deadline(deadlineMs));
    const store = storeFromWire(r.store);
    this.stores.set(storeId, store);
    return store;
  }

  invalidateStore(storeId: number): void {
    this.stores.delete(storeId);
  }

  close(): void {
    this.tso.close();
    this.channels.close();
  }
}

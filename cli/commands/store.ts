import { idArg } from '../args.js';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { ago, formatSize, renderFields, renderTable } from '../output.js';
import { storeLiveness, type StoreJson } from '../pd-types.js';

function capacity(s: StoreJson): string {
  const cap = Number(s.stats?.capacity ?? 0);
  const avail = Number(s.stats?.available ?? 0);
  return cap > 0 ? `${formatSize(avail)} free of ${formatSize(cap)}` : '-';
}

export class StoreList extends FlotillaCommand {
  static override summary = 'List the stores: address, state, heartbeat, regions and leaders, capacity';
  static override examples = ['<%= config.bin %> store list', '<%= config.bin %> store list --json'];
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(StoreList);
    const { stores } = await (await this.admin(flags)).get<{ stores: StoreJson[] }>('/stores');
    if (flags.json) return this.printJson({ stores: stores.map((s) => ({ ...s, status: storeLiveness(s) })) });
    const now = Date.now();
    this.log(renderTable(['id', 'address', 'state', 'status', 'heartbeat', 'regions', 'leaders', 'capacity', 'labels'], stores.map((s) => [
      s.id, s.address, s.state, storeLiveness(s, now), ago(s.lastHeartbeatMs, now), s.regionCount, s.leaderCount, capacity(s),
      Object.entries(s.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    ])));
  }
}

export class StoreShow extends FlotillaCommand {
  static override summary = 'Show one store';
  static override examples = ['<%= config.bin %> store show 1'];
  static override args = { id: idArg('store') };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(StoreShow);
    const s = await (await this.admin(flags)).get<StoreJson>(`/store/${args.id}`);
    if (flags.json) return this.printJson({ ...s, status: storeLiveness(s) });
    this.log(renderFields([
      ['id', s.id], ['address', s.address], ['status address', s.statusAddress], ['state', s.state], ['status', storeLiveness(s)],
      ['last heartbeat', ago(s.lastHeartbeatMs)], ['regions', s.regionCount], ['leaders', s.leaderCount], ['capacity', capacity(s)],
      ['version', s.version], ['labels', Object.entries(s.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '-'],
    ]));
  }
}

export class StoreDelete extends FlotillaCommand {
  static override summary = 'Take a store out of service: it goes offline, its replicas are moved away, then it becomes a tombstone';
  static override description = 'Marks the store offline in PD. A store holding no replicas becomes a tombstone at once; moving the replicas of a busy store away is done by PD\'s replica checker (region lifecycle, F7). A tombstone store can never rejoin.';
  static override examples = ['<%= config.bin %> store delete 4'];
  static override args = { id: idArg('store') };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(StoreDelete);
    const admin = await this.admin(flags);
    const result = await admin.delete<{ state?: string } & Record<string, unknown>>(`/store/${args.id}`);
    if (flags.json) return this.printJson(result);
    this.log(`store ${args.id} is ${result.state ?? 'offline'}`);
  }
}

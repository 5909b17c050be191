import { PD_ENDPOINT_DEFAULT, FlotillaCommand, jsonFlag } from '../base-command.js';
import { renderFields, renderTable } from '../output.js';
import { storeLiveness, type RegionsPageJson, type StoreJson } from '../pd-types.js';

export class ClusterStatus extends FlotillaCommand {
  static override summary = 'Show the cluster: PD members and leader, stores up and down, regions, health';
  static override examples = [
    '<%= config.bin %> cluster status',
    `<%= config.bin %> cluster status --pd ${PD_ENDPOINT_DEFAULT} --json`,
  ];
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(ClusterStatus);
    const admin = await this.admin(flags);
    const members = await admin.members();
    const { stores } = await admin.get<{ stores: StoreJson[] }>('/stores');
    const regions = await admin.get<RegionsPageJson>('/regions?limit=1000');
    const now = Date.now();
    const live = stores.filter((s) => s.state !== 'tombstone');
    const up = live.filter((s) => storeLiveness(s, now) === 'up');
    const leaderless = regions.regions.filter((r) => r.leaderPeerId === 0).length;
    const healthy = members.leader !== null && up.length === live.length && leaderless === 0;
    const summary = {
      clusterId: members.clusterId.toString(),
      healthy,
      pd: { leader: members.leader?.name ?? null, members: members.members.map((m) => ({ name: m.name, clientUrls: m.clientUrls, httpUrl: m.statusUrl, leader: m.name === members.leader?.name })) },
      stores: { total: live.length, up: up.length, down: live.length - up.length, tombstone: stores.length - live.length },
      regions: { total: regions.count, withoutLeader: leaderless },
      dashboard: `${admin.httpUrl}/dashboard`,
    };
    if (flags.json) return this.printJson(summary);
    this.log(renderFields([
      ['cluster id', summary.clusterId],
      ['health', healthy ? 'ok' : 'DEGRADED'],
      ['PD leader', summary.pd.leader ?? 'none (election running?)'],
      ['PD members', members.members.map((m) => `${m.name}${m.name === members.leader?.name ? '*' : ''}`).join(', ')],
      ['stores', `${summary.stores.up} up, ${summary.stores.down} down${summary.stores.tombstone > 0 ? `, ${summary.stores.tombstone} tombstone` : ''}`],
      ['regions', `${regions.count}${leaderless > 0 ? ` (${leaderless} without a leader)` : ''}`],
      ['dashboard', summary.dashboard],
    ]));
    this.log('');
    this.log(renderTable(['store', 'address', 'state', 'status', 'regions', 'leaders'], live.map((s) => [s.id, s.address, s.state, storeLiveness(s, now), s.regionCount, s.leaderCount])));
  }
}

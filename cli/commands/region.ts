import { Args, Flags } from '@oclif/core';
import { idArg } from '../args.js';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { usageError } from '../errors.js';
import { keyEncodingFlags, showHexKey } from '../key-flags.js';
import { encodingOf, parseBytes } from '../keys.js';
import { formatSize, renderFields, renderTable } from '../output.js';
import type { CreatedOperatorJson, RegionJson, RegionsPageJson } from '../pd-types.js';

/** Regions per page PD serves over HTTP. */
const REGIONS_PAGE_MAX = 1_000;

function peersText(r: RegionJson): string {
  return r.peers.map((p) => `${p.id}@store${p.storeId}${p.id === r.leaderPeerId ? '*' : ''}${p.role !== undefined && p.role !== 'voter' ? `(${p.role})` : ''}`).join(' ');
}

function regionFields(r: RegionJson): [string, unknown][] {
  return [
    ['id', r.id], ['start key', showHexKey(r.startKey, '(start of key space)')], ['end key', showHexKey(r.endKey, '(end of key space)')],
    ['epoch', `conf_ver ${r.epoch.confVer}, version ${r.epoch.version}`], ['peers', peersText(r)],
    ['leader', r.leaderPeerId === 0 ? 'none reported' : `peer ${r.leaderPeerId} on store ${r.peers.find((p) => p.id === r.leaderPeerId)?.storeId ?? '?'}`],
    ['approximate size', formatSize(r.approximateSizeBytes)], ['approximate keys', r.approximateKeys],
    ['down peers', (r.downPeers ?? []).map((d) => `${d.peerId}@store${d.storeId} (not heard for ${d.downSeconds} s)`).join(', ') || 'none'],
    ['pending peers', (r.pendingPeerIds ?? []).join(', ') || 'none'],
  ];
}

export class RegionList extends FlotillaCommand {
  static override summary = 'List regions in key order';
  static override examples = ['<%= config.bin %> region list', '<%= config.bin %> region list --start user/ --limit 10', '<%= config.bin %> region list --json'];
  static override flags = {
    ...jsonFlag,
    ...keyEncodingFlags,
    start: Flags.string({ description: 'list regions from the one holding this key' }),
    limit: Flags.integer({ description: 'at most this many regions', default: 100, min: 1, max: 100_000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RegionList);
    const admin = await this.admin(flags);
    const start = flags.start === undefined ? '' : parseBytes(flags.start, encodingOf(flags), '--start').toString('hex');
    const regions: RegionJson[] = [];
    let next: string | null = start;
    let count = 0;
    if (start !== '') {
      // Start at the region holding the key, not the first one that begins after it.
      regions.push(await admin.get<RegionJson>(`/region/key/${start}`));
      next = regions[0]!.endKey === '' ? null : regions[0]!.endKey;
    }
    while (next !== null && regions.length < flags.limit) {
      const page: RegionsPageJson = await admin.get<RegionsPageJson>(`/regions?limit=${Math.min(REGIONS_PAGE_MAX, flags.limit - regions.length)}${next === '' ? '' : `&start_key=${next}`}`);
      count = page.count;
      regions.push(...page.regions);
      next = page.nextStartKey;
      if (page.regions.length === 0) break;
    }
    if (flags.json) return this.printJson({ count, regions });
    this.log(renderTable(['id', 'start key', 'end key', 'version', 'peers (*leader)', 'size', 'keys'], regions.map((r) => [
      r.id, showHexKey(r.startKey, '-'), showHexKey(r.endKey, '-'), r.epoch.version, peersText(r), formatSize(r.approximateSizeBytes), r.approximateKeys,
    ])));
  }
}

export class RegionShow extends FlotillaCommand {
  static override summary = 'Show one region by id';
  static override examples = ['<%= config.bin %> region show 2'];
  static override args = { id: idArg('region') };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegionShow);
    const r = await (await this.admin(flags)).get<RegionJson>(`/region/id/${args.id}`);
    if (flags.json) return this.printJson(r);
    this.log(renderFields(regionFields(r)));
  }
}

export class RegionKey extends FlotillaCommand {
  static override summary = 'Show the region that holds a key';
  static override examples = ['<%= config.bin %> region key user/42', '<%= config.bin %> region key 00ff --hex'];
  static override args = { key: Args.string({ description: 'the key (UTF-8 unless --hex or --base64)', required: true }) };
  static override flags = { ...jsonFlag, ...keyEncodingFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegionKey);
    const key = parseBytes(args.key, encodingOf(flags), 'key');
    if (key.length === 0) throw usageError('key: must not be empty');
    const r = await (await this.admin(flags)).get<RegionJson>(`/region/key/${key.toString('hex')}`);
    if (flags.json) return this.printJson(r);
    this.log(renderFields(regionFields(r)));
  }
}

/** One operator step for people: "add learner 42 on store 4", "merge into region 7", …. */
function stepText(step: Readonly<Record<string, unknown>>): string {
  const peer = (step['peer'] ?? step['toPeer']) as { id?: number; storeId?: number; role?: string } | undefined;
  const on = peer === undefined ? '' : ` ${peer.id} on store ${peer.storeId}`;
  switch (step['kind']) {
    case 'addPeer':
      return `add ${peer?.role ?? 'peer'}${on}`;
    case 'promoteLearner':
      return `promote${on}`;
    case 'removePeer':
      return `remove${on}`;
    case 'transferLeader':
      return `transfer leader to${on}`;
    case 'split': {
      const keys = (step['keys'] as string[] | undefined) ?? [];
      return keys.length === 0 ? 'split at the middle' : `split at ${keys.map((k) => showHexKey(k, '-')).join(', ')}`;
    }
    case 'merge':
      return `merge into region ${String(step['targetRegionId'])}`;
    default:
      return String(step['kind']);
  }
}

/** What the region admin commands share: POST one operator, print it (or its JSON). */
abstract class RegionOperatorCommand extends FlotillaCommand {
  protected async postOperator(flags: { pd: string; timeout: number; json: boolean }, body: Readonly<Record<string, unknown>>): Promise<void> {
    const op = await (await this.admin(flags)).post<CreatedOperatorJson>('/operators', body);
    if (flags.json) return this.printJson(op);
    if (op.id === undefined) return this.log(op.message ?? `region ${op.regionId}: nothing to do`);
    this.log(renderFields([['operator', op.id], ['region', op.regionId], ['steps', op.steps.map(stepText).join(' → ')]]));
    this.log('PD sends the steps to the region\'s leader with its heartbeats; `flotilla operator list` shows progress, `flotilla region show` the result.');
  }
}

const regionIdArg = (): ReturnType<typeof idArg> => idArg('region');

export class RegionSplit extends RegionOperatorCommand {
  static override summary = 'Split a region at keys (or, without --at, at its middle, chosen by the store)';
  static override description = 'Each --at key must lie strictly inside the region. Keys are UTF-8 unless --hex or --base64.';
  static override examples = ['<%= config.bin %> region split 2 --at user/5000', '<%= config.bin %> region split 2 --at 00ff --at 0fff --hex', '<%= config.bin %> region split 2'];
  static override args = { id: regionIdArg() };
  static override flags = { ...jsonFlag, ...keyEncodingFlags, at: Flags.string({ description: 'a split key (repeat for several)', multiple: true }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegionSplit);
    const keys = (flags.at ?? []).map((k, i) => {
      const key = parseBytes(k, encodingOf(flags), `--at #${i + 1}`);
      if (key.length === 0) throw usageError('--at: a split key must not be empty');
      return key.toString('hex');
    });
    await this.postOperator(flags, { regionId: Number(args.id), kind: 'split', keys });
  }
}

export class RegionMerge extends RegionOperatorCommand {
  static override summary = 'Merge a region into an adjacent one whose replicas are on the same stores';
  static override description = 'The source region goes away; the target then covers both ranges. When the replicas are on different stores, move them first (region add-peer / remove-peer) — PD refuses otherwise.';
  static override examples = ['<%= config.bin %> region merge 8 2'];
  static override args = { source: idArg('source region'), target: idArg('target region') };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegionMerge);
    await this.postOperator(flags, { regionId: Number(args.source), kind: 'merge', targetRegionId: Number(args.target) });
  }
}

export class RegionTransferLeader extends RegionOperatorCommand {
  static override summary = 'Move a region\'s leadership to its replica on a store';
  static override examples = ['<%= config.bin %> region transfer-leader 2 3'];
  static override args = { id: regionIdArg(), store: idArg('store') };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegionTransferLeader);
    await this.postOperator(flags, { regionId: Number(args.id), kind: 'transfer-leader', toStoreId: Number(args.store) });
  }
}

export class RegionAddPeer extends RegionOperatorCommand {
  static override summary = 'Add a replica of a region on a store: a learner, filled by a snapshot, then promoted to voter';
  static override examples = ['<%= config.bin %> region add-peer 2 4'];
  static override args = { id: regionIdArg(), store: idArg('store') };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegionAddPeer);
    await this.postOperator(flags, { regionId: Number(args.id), kind: 'add-peer', storeId: Number(args.store) });
  }
}

export class RegionRemovePeer extends RegionOperatorCommand {
  static override summary = 'Remove a region\'s replica from a store (its leadership moves first when it leads)';
  static override examples = ['<%= config.bin %> region remove-peer 2 1'];
  static override args = { id: regionIdArg(), store: idArg('store') };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegionRemovePeer);
    await this.postOperator(flags, { regionId: Number(args.id), kind: 'remove-peer', storeId: Number(args.store) });
  }
}

export class RegionScatter extends RegionOperatorCommand {
  static override summary = 'Move a region\'s replicas and leadership to randomly chosen less-loaded stores';
  static override examples = ['<%= config.bin %> region scatter 2'];
  static override args = { id: regionIdArg() };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegionScatter);
    await this.postOperator(flags, { regionId: Number(args.id), kind: 'scatter' });
  }
}

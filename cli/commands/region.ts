import { Args, Flags } from '@oclif/core';
import { idArg } from '../args.js';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { usageError } from '../errors.js';
import { keyEncodingFlags, showHexKey } from '../key-flags.js';
import { encodingOf, parseBytes } from '../keys.js';
import { formatSize, renderFields, renderTable } from '../output.js';
import type { RegionJson, RegionsPageJson } from '../pd-types.js';

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

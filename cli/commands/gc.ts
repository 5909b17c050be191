import { Args } from '@oclif/core';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { renderFields } from '../output.js';
import { decodeTs, parseTs } from './tso.js';

export class GcSafepoint extends FlotillaCommand {
  static override summary = 'Show the GC safe point: MVCC versions older than it may be removed';
  static override examples = ['<%= config.bin %> gc safepoint', '<%= config.bin %> gc safepoint set 449612853866397697'];
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(GcSafepoint);
    const { safePoint } = await (await this.admin(flags)).get<{ safePoint: string }>('/gc/safepoint');
    const d = decodeTs(BigInt(safePoint));
    if (flags.json) return this.printJson({ safePoint, ...d });
    this.log(renderFields([['safe point', safePoint], ['time', BigInt(safePoint) === 0n ? 'never set' : d.time]]));
  }
}

export class GcSafepointSet extends FlotillaCommand {
  static override summary = 'Advance the GC safe point (it never moves back)';
  static override examples = ['<%= config.bin %> gc safepoint set 449612853866397697', '<%= config.bin %> gc safepoint set "$(<%= config.bin %> tso --json | jq -r .ts)"'];
  static override args = { ts: Args.string({ description: 'the new safe point, a timestamp (see `tso`)', required: true }) };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(GcSafepointSet);
    const ts = parseTs(args.ts);
    const result = await (await this.admin(flags)).post<{ safePoint: string }>('/gc/safepoint', { safePoint: ts.toString() });
    if (flags.json) return this.printJson(result);
    this.log(`GC safe point is ${result.safePoint}`);
  }
}

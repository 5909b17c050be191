import { Args } from '@oclif/core';
import { extractLogical, extractPhysical, TS_MAX } from '../../common/pure.js';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { usageError } from '../errors.js';
import { renderFields } from '../output.js';

/** A timestamp's parts: physical milliseconds since the Unix epoch, and an 18-bit logical counter. */
export function decodeTs(ts: bigint): { ts: string; physicalMs: number; logical: number; time: string } {
  const physicalMs = Number(extractPhysical(ts));
  const logical = Number(extractLogical(ts));
  const date = new Date(physicalMs);
  return { ts: ts.toString(), physicalMs, logical, time: Number.isNaN(date.getTime()) ? 'out of range' : date.toISOString() };
}

export function parseTs(text: string): bigint {
  if (!/^\d{1,20}$/.test(text) || BigInt(text) > TS_MAX) throw usageError(`timestamp ${JSON.stringify(text)} is not a u64 decimal`);
  return BigInt(text);
}

export class Tso extends FlotillaCommand {
  static override summary = 'Get a fresh timestamp from PD and decode it, or decode the one given';
  static override examples = ['<%= config.bin %> tso', '<%= config.bin %> tso 449612853866397697'];
  static override args = { ts: Args.string({ description: 'a timestamp to decode instead of asking PD', required: false }) };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Tso);
    const ts = args.ts !== undefined ? parseTs(args.ts) : await (await this.admin(flags)).pd.getTimestamp();
    const d = decodeTs(ts);
    if (flags.json) return this.printJson(d);
    this.log(renderFields([['ts', d.ts], ['physical', `${d.physicalMs} ms (${d.time})`], ['logical', d.logical]]));
  }
}

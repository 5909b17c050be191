import { Args } from '@oclif/core';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { usageError } from '../errors.js';
import { renderFields } from '../output.js';

export class ConfigShow extends FlotillaCommand {
  static override summary = 'Show the cluster configuration PD keeps (replicas, split and merge sizes, schedule limits, …)';
  static override examples = ['<%= config.bin %> config show', '<%= config.bin %> config show --json'];
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(ConfigShow);
    const config = await (await this.admin(flags)).get<Record<string, unknown>>('/config');
    if (flags.json) return this.printJson(config);
    this.log(renderFields(Object.entries(config)));
  }
}

/** A config value from the command line: true/false, or a number. */
export function parseConfigValue(name: string, text: string): number | boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(text) && Number.isFinite(Number(text))) return Number(text);
  throw usageError(`${name}: ${JSON.stringify(text)} is neither a number nor true/false`);
}

export class ConfigSet extends FlotillaCommand {
  static override summary = 'Change one cluster configuration value (replicated through PD\'s raft group)';
  static override examples = ['<%= config.bin %> config set maxPeerCount 5', '<%= config.bin %> config set disableMerge true'];
  static override args = {
    name: Args.string({ description: 'the setting, as `config show` names it', required: true }),
    value: Args.string({ description: 'its new value (a number, or true/false)', required: true }),
  };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ConfigSet);
    const config = await (await this.admin(flags)).post<Record<string, unknown>>('/config', { [args.name]: parseConfigValue(args.name, args.value) });
    if (flags.json) return this.printJson(config);
    this.log(`${args.name} = ${JSON.stringify(config[args.name] ?? args.value)}`);
  }
}

import { Args } from '@oclif/core';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { usageError } from '../errors.js';
import { renderFields, renderTable } from '../output.js';
import type { SchedulerJson } from '../pd-types.js';

/** A scheduler name as PD spells them (lower case, dashes); PD answers an unknown one with the list. */
function nameArg() {
  return Args.string({
    description: 'the scheduler: replica-checker, balance-leader, balance-region, merge-checker or hot-region',
    required: true,
    parse: (text: string): Promise<string> => (/^[a-z][a-z-]{0,63}$/.test(text) ? Promise.resolve(text) : Promise.reject(usageError(`scheduler name ${JSON.stringify(text)} is not a name (lower-case letters and dashes)`))),
  });
}

function settingsText(config: Readonly<Record<string, unknown>>): string {
  return Object.entries(config).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('/') : String(v)}`).join(' ');
}

export class SchedulerList extends FlotillaCommand {
  static override summary = 'List PD\'s schedulers: on or off, kind, operators in flight against their limit, settings';
  static override description = 'Schedulers run on the PD leader every --schedule-interval-ms and create operators (see `flotilla operator list`). Switching one on or off is replicated: it holds across PD leader changes and restarts.';
  static override examples = ['<%= config.bin %> scheduler list', '<%= config.bin %> scheduler list --json'];
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(SchedulerList);
    const { schedulers } = await (await this.admin(flags)).get<{ schedulers: SchedulerJson[] }>('/schedulers');
    if (flags.json) return this.printJson({ schedulers });
    this.log(renderTable(['name', 'state', 'kind', 'in flight', 'created', 'settings'], schedulers.map((s) => [
      s.name, s.isEnabled ? 'on' : 'off', s.kind, `${s.inFlight}/${s.limit}`, s.operatorsCreated, settingsText(s.config),
    ])));
  }
}

abstract class SchedulerSwitch extends FlotillaCommand {
  protected async switchTo(name: string, isEnabled: boolean, json: boolean, flags: { pd: string; timeout: number }): Promise<void> {
    const admin = await this.admin(flags);
    const s = isEnabled ? await admin.post<SchedulerJson>('/schedulers', { name }) : await admin.delete<SchedulerJson>(`/schedulers/${encodeURIComponent(name)}`);
    if (json) return this.printJson(s);
    this.log(renderFields([['scheduler', s.name], ['state', s.isEnabled ? 'on' : 'off'], ['kind', s.kind], ['settings', settingsText(s.config)]]));
  }
}

export class SchedulerAdd extends SchedulerSwitch {
  static override summary = 'Switch a scheduler on (through PD\'s raft log: it stays on across leader changes)';
  static override examples = ['<%= config.bin %> scheduler add balance-leader'];
  static override args = { name: nameArg() };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SchedulerAdd);
    await this.switchTo(args.name, true, flags.json, flags);
  }
}

export class SchedulerRemove extends SchedulerSwitch {
  static override summary = 'Switch a scheduler off (through PD\'s raft log: it stays off across leader changes); operators it created keep running';
  static override examples = ['<%= config.bin %> scheduler remove hot-region', '<%= config.bin %> scheduler remove merge-checker --json'];
  static override args = { name: nameArg() };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SchedulerRemove);
    await this.switchTo(args.name, false, flags.json, flags);
  }
}

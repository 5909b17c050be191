import { idArg } from '../args.js';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { ago, renderTable } from '../output.js';
import type { OperatorJson } from '../pd-types.js';

export class OperatorList extends FlotillaCommand {
  static override summary = 'List the operators in flight (one per region at most)';
  static override examples = ['<%= config.bin %> operator list'];
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(OperatorList);
    const { operators } = await (await this.admin(flags)).get<{ operators: OperatorJson[] }>('/operators');
    if (flags.json) return this.printJson({ operators });
    if (operators.length === 0) return this.log('no operators in flight');
    this.log(renderTable(['region', 'kind', 'created', 'steps'], operators.map((o) => [
      o.regionId, o.kind ?? '-', o.createdAtMs === undefined ? '-' : ago(o.createdAtMs), o.steps,
    ])));
  }
}

export class OperatorCancel extends FlotillaCommand {
  static override summary = 'Cancel the operator of a region';
  static override examples = ['<%= config.bin %> operator cancel 2'];
  static override args = { region: idArg('region') };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(OperatorCancel);
    const result = await (await this.admin(flags)).delete<unknown>(`/operators/${args.region}`);
    if (flags.json) return this.printJson(result);
    this.log(`cancelled the operator of region ${args.region}`);
  }
}

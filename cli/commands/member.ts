import { Args, Flags } from '@oclif/core';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { usageError } from '../errors.js';
import { renderTable } from '../output.js';

export class MemberList extends FlotillaCommand {
  static override summary = 'List the PD members and which one leads';
  static override examples = ['<%= config.bin %> member list', '<%= config.bin %> member list --json'];
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(MemberList);
    const members = await (await this.admin(flags)).members();
    if (flags.json) return this.printJson({ clusterId: members.clusterId, leader: members.leader?.name ?? null, members: members.members });
    this.log(renderTable(['name', 'member id', 'leader', 'client urls', 'peer urls', 'http url'], members.members.map((m) => [
      m.name, m.memberId, m.name === members.leader?.name ? 'yes' : '', m.clientUrls.join(','), m.peerUrls.join(','), m.statusUrl,
    ])));
  }
}

function urls(text: string, flag: string): string[] {
  const list = text.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  if (list.length === 0) throw usageError(`${flag}: no URL given`);
  for (const u of list) if (!/^(https?:\/\/)?[^\s/:]+:\d{1,5}$/.test(u)) throw usageError(`${flag}: ${JSON.stringify(u)} is not host:port`);
  return list;
}

export class MemberAdd extends FlotillaCommand {
  static override summary = 'Add a PD member to the raft group (then start it with --initial-cluster-state existing)';
  static override examples = ['<%= config.bin %> member add pd4 --peer-urls 127.0.0.1:2389 --client-urls 127.0.0.1:2388'];
  static override args = { name: Args.string({ description: 'the new member\'s name (unique)', required: true }) };
  static override flags = {
    'peer-urls': Flags.string({ description: 'host:port its PDPeer (raft) service listens on, comma-separated', required: true }),
    'client-urls': Flags.string({ description: 'host:port its client gRPC service listens on, comma-separated', required: true }),
    ...jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(MemberAdd);
    const body = { name: args.name, peerUrls: urls(flags['peer-urls'], '--peer-urls'), clientUrls: urls(flags['client-urls'], '--client-urls') };
    const added = await (await this.admin(flags)).post<unknown>('/members', body);
    if (flags.json) return this.printJson(added);
    this.log(`added PD member ${args.name}; start it with --initial-cluster-state existing and an --initial-cluster that lists it`);
  }
}

export class MemberRemove extends FlotillaCommand {
  static override summary = 'Remove a PD member from the raft group';
  static override examples = ['<%= config.bin %> member remove pd3'];
  static override args = { name: Args.string({ description: 'the member\'s name', required: true }) };
  static override flags = { ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(MemberRemove);
    const admin = await this.admin(flags);
    const members = await admin.members();
    if (!members.members.some((m) => m.name === args.name)) {
      throw usageError(`no PD member is named ${JSON.stringify(args.name)} (members: ${members.members.map((m) => m.name).join(', ')})`);
    }
    const removed = await admin.delete<unknown>(`/members/name/${encodeURIComponent(args.name)}`);
    if (flags.json) return this.printJson(removed);
    this.log(`removed PD member ${args.name}`);
  }
}

// Finding the PD leader from a list of endpoints: ask each member GetMembers (any member answers)
// until one names a leader, then connect to the leader's client URL. The full PD client (leader
// following, region cache) arrives with F6 and builds on this.

import { type ChannelCache, errorFromGrpc, FlotillaError } from '../common/index.js';
import { loadProtos, type pdpb } from '../proto/index.js';

export interface PdLeaderConnection {
  readonly client: pdpb.PDClient;
  readonly clusterId: string;
  readonly leaderName: string;
  readonly leaderAddress: string;
}

function getMembers(client: pdpb.PDClient, timeoutMs: number): Promise<pdpb.GetMembersResponse> {
  return new Promise((resolve, reject) => {
    client.GetMembers({ header: { clusterId: '0', senderId: '0' } }, { deadline: new Date(Date.now() + timeoutMs) }, (err, resp) =>
      err !== null || resp === undefined ? reject(err ?? new Error('no response')) : resolve(resp),
    );
  });
}

/** Connects to the PD leader named by any reachable endpoint (host:port of a member's client URL). */
export async function connectPdLeader(endpoints: readonly string[], channels: ChannelCache, timeoutMs = 3_000): Promise<PdLeaderConnection> {
  const PD = loadProtos().flotilla.pdpb.PD;
  const failures: string[] = [];
  for (const endpoint of endpoints) {
    try {
      const members = await getMembers(channels.get(PD, endpoint), timeoutMs);
      const leader = members.leader;
      const address = leader?.clientUrls[0]?.replace(/^[a-z]+:\/\//i, '');
      if (leader === null || address === undefined) {
        failures.push(`${endpoint}: no leader known`);
        continue;
      }
      return { client: channels.get(PD, address), clusterId: members.header?.clusterId ?? '0', leaderName: leader.name, leaderAddress: address };
    } catch (err) {
      failures.push(`${endpoint}: ${err instanceof Error ? errorFromGrpc(err).message : String(err)}`);
    }
  }
  throw new FlotillaError('Unavailable', `no PD leader reachable (${failures.join('; ')})`);
}

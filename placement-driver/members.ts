// How PD members present themselves to clients: pdpb.Member in GetMembers, and the structured
// PdLeaderHint every PdNotLeader answer carries (gRPC headers, streams, HTTP bodies alike).
// Inside PD a member's addresses are host:port (config and the replicated member list); on the
// wire they are URLs with the scheme the proto describes (`http://host:port`). Invariant: every
// PdNotLeader that leaves this member names the leader it knows — itself when it is the raft
// leader but not serving yet — or says that it knows none.

import { FlotillaError, isFlotillaError, pdLeaderHintOf, type PdLeaderHint } from '../common/index.js';
import type { pdpb } from '../proto/index.js';
import type { PdMember } from './state-machine.js';

/** `127.0.0.1:2379` → `http://127.0.0.1:2379`; a URL that already has a scheme is kept. */
export function urlOfAddress(address: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`;
}

export function memberToWire(m: PdMember): pdpb.Member__Input {
  return {
    name: m.name,
    memberId: String(m.id),
    peerUrls: m.peerUrls.map(urlOfAddress),
    clientUrls: m.clientUrls.map(urlOfAddress),
    statusUrl: m.statusAddress === undefined || m.statusAddress === '' ? '' : urlOfAddress(m.statusAddress),
  };
}

export function leaderHintOf(m: PdMember): PdLeaderHint {
  const wire = memberToWire(m);
  return { memberId: m.id, name: m.name, clientUrls: wire.clientUrls ?? [], statusUrl: wire.statusUrl ?? '' };
}

/** What a member knows about leadership when it refuses a request. */
export interface LeadershipView {
  /** This member. */
  readonly self: Pick<PdMember, 'id' | 'name'>;
  /** The raft leader's member record; undefined when no leader is known (or not yet in the list). */
  readonly leader: PdMember | undefined;
  /** Whether this member is the raft leader (then it refuses only because it is not serving yet). */
  readonly isRaftLeader: boolean;
}

/** What leadershipOf reads: a member's identity, its raft node and the replicated member list. */
export interface LeadershipSource {
  readonly memberId: number;
  readonly name: string;
  readonly node: { readonly leaderId: number; readonly isLeader: boolean };
  memberList(): readonly PdMember[];
}

export function leadershipOf(source: LeadershipSource): LeadershipView {
  const leaderId = source.node.leaderId;
  return {
    self: { id: source.memberId, name: source.name },
    leader: leaderId === 0 ? undefined : source.memberList().find((m) => m.id === leaderId),
    isRaftLeader: source.node.isLeader,
  };
}

/** Errors pdNotLeader built: they already say all this member knows. */
const ANSWERS = new WeakSet<FlotillaError>();

/**
 * The PdNotLeader this member answers: a message naming both members by name and id, and the
 * leader as details.leader (a PdLeaderHint) when one is known. `reason` is the refusing layer's
 * own text (raft, the id allocator), kept for the logs.
 */
export function pdNotLeader(view: LeadershipView, reason?: string): FlotillaError {
  const self = `PD member ${view.self.name} (id ${view.self.id})`;
  let text: string;
  if (view.isRaftLeader) {
    text = `${self} is the raft leader but not serving yet (syncing TSO and ids after its election); retry shortly`;
  } else if (view.leader === undefined) {
    text = `${self} is not the leader and knows no leader (election in progress?)`;
  } else {
    text = `${self} is not the leader; the leader is ${view.leader.name} (id ${view.leader.id}) at ${view.leader.clientUrls.map(urlOfAddress).join(', ') || 'an unknown address'}`;
  }
  const message = reason === undefined ? text : `${text} [${reason}]`;
  const err = new FlotillaError('PdNotLeader', message, { details: view.leader === undefined ? {} : { leader: leaderHintOf(view.leader) } });
  ANSWERS.add(err);
  return err;
}

/**
 * `err` ready to leave this member: a PdNotLeader raised deep inside (raft, the id allocator —
 * layers that know ids, not members) is replaced by one carrying the leader hint; anything else
 * is returned as is.
 */
export function withLeaderHint(err: unknown, view: () => LeadershipView): unknown {
  if (!isFlotillaError(err, 'PdNotLeader') || ANSWERS.has(err) || pdLeaderHintOf(err) !== null) return err;
  return pdNotLeader(view(), err.message);
}

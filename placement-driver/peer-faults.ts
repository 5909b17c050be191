// A fault layer for raft traffic between PD members (tests only): drops messages to or from chosen
// peers, one way or both, so a member can be partitioned while its process keeps running and
// ticking. The transport asks `allowsOut` before sending and the peer service `allowsIn` before
// stepping; an unfaulted member pays one boolean check per batch.
//
// Rules come from two places, and a message is dropped if either says so:
//   - in-process: `drop(peer, 'in' | 'out' | 'both')`, `dropAll(direction)`, `heal()`;
//   - a real process: the failpoint `pd::peer-drop` armed with `return(<rules>)`, e.g.
//     FLOTILLA_FAILPOINTS="pd::peer-drop=return(out:*)"       this member sends nothing
//     FLOTILLA_FAILPOINTS="pd::peer-drop=return(in:2,both:3)"  deaf to member 2, cut off from 3
//   where a rule is `in|out|both` `:` a member id or `*` (every peer).

import { failpoint, FlotillaError } from '../common/index.js';

/** `in`: drop what the peer sends to us; `out`: drop what we send to it; `both`: a full partition. */
export type PeerFaultDirection = 'in' | 'out' | 'both';

/** The failpoint a real process is partitioned with (see the file comment for its rules). */
export const PEER_DROP_FAILPOINT = 'pd::peer-drop';

/** Any peer, in a rule. */
const EVERY_PEER = '*';

interface PeerDropRules {
  readonly in: ReadonlySet<number | typeof EVERY_PEER>;
  readonly out: ReadonlySet<number | typeof EVERY_PEER>;
}

/** Parses `in:2,out:*,both:3` (the failpoint's value). Throws ConfigInvalid naming the bad rule. */
export function parsePeerDropRules(text: string): PeerDropRules {
  const rules = { in: new Set<number | typeof EVERY_PEER>(), out: new Set<number | typeof EVERY_PEER>() };
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(in|out|both):(\*|[0-9]+)$/.exec(part);
    if (m === null) throw new FlotillaError('ConfigInvalid', `${PEER_DROP_FAILPOINT}: rule ${JSON.stringify(part)} is not (in|out|both):(<member id>|*)`);
    const peer = m[2] === EVERY_PEER ? EVERY_PEER : Number(m[2]);
    if (m[1] !== 'out') rules.in.add(peer);
    if (m[1] !== 'in') rules.out.add(peer);
  }
  return rules;
}

export class PeerFaults {
  private readonly dropIn = new Set<number | typeof EVERY_PEER>();
  private readonly dropOut = new Set<number | typeof EVERY_PEER>();
  private parsedSpec = '';
  private parsedRules: PeerDropRules = { in: new Set(), out: new Set() };
  /** Messages dropped so far, per direction (a fault that never took effect proves nothing). */
  droppedIn = 0;
  droppedOut = 0;

  /** Drops traffic with `peer` (or `*`, every peer) in the given direction, added to the rules in force. */
  drop(peer: number | typeof EVERY_PEER, direction: PeerFaultDirection): void {
    if (direction !== 'out') this.dropIn.add(peer);
    if (direction !== 'in') this.dropOut.add(peer);
  }

  /** Drops traffic with every peer in the given direction. */
  dropAll(direction: PeerFaultDirection): void {
    this.drop(EVERY_PEER, direction);
  }

  /** Removes every in-process rule (the failpoint's rules stay until it is disarmed). */
  heal(): void {
    this.dropIn.clear();
    this.dropOut.clear();
  }

  get isFaulty(): boolean {
    return this.dropIn.size > 0 || this.dropOut.size > 0;
  }

  /** Whether a message from this member to `to` may leave. Counts a drop. */
  allowsOut(to: number): boolean {
    const isDropped = isMatch(this.dropOut, to) || isMatch(this.failpointRules().out, to);
    if (isDropped) this.droppedOut++;
    return !isDropped;
  }

  /** Whether a message from `from` may be stepped into this member. Counts a drop. */
  allowsIn(from: number): boolean {
    const isDropped = isMatch(this.dropIn, from) || isMatch(this.failpointRules().in, from);
    if (isDropped) this.droppedIn++;
    return !isDropped;
  }

  private failpointRules(): PeerDropRules {
    const spec = failpoint(PEER_DROP_FAILPOINT);
    // Only `return(rules)` makes sense here; an unarmed site (or another action) drops nothing.
    if (typeof spec !== 'string') return NO_RULES;
    if (spec !== this.parsedSpec) {
      this.parsedRules = parsePeerDropRules(spec);
      this.parsedSpec = spec;
    }
    return this.parsedRules;
  }
}

const NO_RULES: PeerDropRules = { in: new Set(), out: new Set() };

function isMatch(rules: ReadonlySet<number | typeof EVERY_PEER>, peer: number): boolean {
  return rules.size > 0 && (rules.has(peer) || rules.has(EVERY_PEER));
}

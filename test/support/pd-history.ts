// A history of everything PD members served (timestamps, ids), each with who served it, in which
// raft term, at which instant of the shared monotonic clock, and the durable bounds some member
// had applied at that moment; and the checker that judges the whole history:
//   - TSO: strictly increasing in the order served, across members and terms (so also unique, and
//     a new leader starts above everything any earlier leader served);
//   - TSO: physical ≤ the TSO bound applied (hence committed) somewhere when it was served;
//   - IDs: unique across members, each ≤ the id high-water mark applied somewhere when served;
//   - leadership becomes ready only with every committed bound applied;
//   - a proposal acknowledged as applied is in the proposer's state machine, and a leader is
//     ready only having applied an entry of its own term (both checked as they happen);
//   - leadership: one member serves per term, and nothing from an older term is served at or
//     after the instant a newer term first served (no two serving leaders at once).
// Its own tests: test/placement-driver/pd-history.test.ts (known-good and known-bad histories).

import { extractPhysical, formatTs, type Ts } from '../../common/index.js';

export interface ServedTso {
  readonly kind: 'tso';
  readonly member: number;
  readonly term: number;
  readonly instantMs: number;
  /** The last of `count` consecutive timestamps. */
  readonly lastTs: Ts;
  readonly count: number;
  /** The highest TSO bound any member had applied when this was served. */
  readonly durableBoundMs: bigint;
}

export interface ServedIds {
  readonly kind: 'ids';
  readonly member: number;
  readonly term: number;
  readonly instantMs: number;
  readonly ids: readonly bigint[];
  /** The highest id high-water mark any member had applied when these were served. */
  readonly durableHighWater: bigint;
}

export type ServedEvent = ServedTso | ServedIds;

/**
 * A member's leadership became ready (TSO and IDs about to sync from its state machine), with its
 * state machine's bounds then and the highest bounds any member had applied (so committed).
 */
export interface LeadershipReady {
  readonly member: number;
  readonly term: number;
  readonly instantMs: number;
  readonly tsoBoundMs: bigint;
  readonly idHighWater: bigint;
  readonly durableTsoBoundMs: bigint;
  readonly durableIdHighWater: bigint;
}

export class PdHistory {
  /** In the order served (one process: this is real order). */
  readonly events: ServedEvent[] = [];
  readonly leaderships: LeadershipReady[] = [];
  /** Violations the harness saw as they happened (an acknowledged proposal missing, a leader ready too early). */
  readonly violations: string[] = [];

  recordLeadership(l: LeadershipReady): void {
    this.leaderships.push(l);
  }

  record(e: ServedEvent): void {
    this.events.push(e);
  }

  get tsoCount(): number {
    return this.events.filter((e) => e.kind === 'tso').length;
  }

  get idCount(): number {
    return this.events.filter((e) => e.kind === 'ids').reduce((n, e) => n + (e.kind === 'ids' ? e.ids.length : 0), 0);
  }

  /** Distinct (member, term) serving periods, in the order they first served. */
  servingPeriods(): { member: number; term: number; firstMs: number; lastMs: number }[] {
    const periods = new Map<number, { member: number; term: number; firstMs: number; lastMs: number }>();
    for (const e of this.events) {
      const p = periods.get(e.term);
      if (p === undefined) periods.set(e.term, { member: e.member, term: e.term, firstMs: e.instantMs, lastMs: e.instantMs });
      else p.lastMs = Math.max(p.lastMs, e.instantMs);
    }
    return [...periods.values()].sort((a, b) => a.term - b.term);
  }
}

/** Every violation in the history (empty: it passes). At most `limit` are listed. */
export function checkPdHistory(history: PdHistory, limit = 10): string[] {
  const errors: string[] = [];
  const fail = (msg: string): void => {
    if (errors.length < limit) errors.push(msg);
  };
  for (const lost of history.violations) fail(lost);
  checkLeadershipReady(history, fail);
  checkTso(history, fail);
  checkIds(history, fail);
  checkLeadership(history, fail);
  return errors;
}

function describe(e: ServedEvent): string {
  const what = e.kind === 'tso' ? `ts ${formatTs(e.lastTs)} (count ${e.count})` : `ids ${e.ids.length === 0 ? '[]' : `${e.ids[0]}..${e.ids[e.ids.length - 1]}`}`;
  return `${what} by member ${e.member} term ${e.term} at ${e.instantMs} ms`;
}

/**
 * Leadership is ready only once an entry of the leader's own term is applied, so its state machine
 * holds everything any earlier leader committed: nothing any member applied may be missing.
 */
function checkLeadershipReady(history: PdHistory, fail: (msg: string) => void): void {
  for (const l of history.leaderships) {
    if (l.tsoBoundMs < l.durableTsoBoundMs || l.idHighWater < l.durableIdHighWater) {
      fail(`member ${l.member} became the ready leader of term ${l.term} at ${l.instantMs} ms with TSO bound ${l.tsoBoundMs} / id high-water ${l.idHighWater} applied, ` +
        `but ${l.durableTsoBoundMs} / ${l.durableIdHighWater} were already committed`);
    }
  }
}

function checkTso(history: PdHistory, fail: (msg: string) => void): void {
  let previous: ServedTso | undefined;
  for (const e of history.events) {
    if (e.kind !== 'tso') continue;
    const first = e.lastTs - BigInt(e.count) + 1n;
    if (previous !== undefined && first <= previous.lastTs) {
      fail(`TSO not strictly increasing: ${describe(e)} (first ${formatTs(first)}) after ${describe(previous)}`);
    }
    if (extractPhysical(e.lastTs) > e.durableBoundMs) {
      fail(`TSO served beyond the durable window: ${describe(e)}, physical ${extractPhysical(e.lastTs)} > applied bound ${e.durableBoundMs}`);
    }
    previous = e;
  }
}

function checkIds(history: PdHistory, fail: (msg: string) => void): void {
  const servedBy = new Map<bigint, ServedIds>();
  for (const e of history.events) {
    if (e.kind !== 'ids') continue;
    for (const id of e.ids) {
      const earlier = servedBy.get(id);
      if (earlier !== undefined) fail(`id ${id} handed out twice: ${describe(earlier)} and ${describe(e)}`);
      else servedBy.set(id, e);
      if (id > e.durableHighWater) fail(`id ${id} handed out above the durable high-water mark ${e.durableHighWater}: ${describe(e)}`);
      if (id <= 0n) fail(`id ${id} is not positive: ${describe(e)}`);
    }
  }
}

function checkLeadership(history: PdHistory, fail: (msg: string) => void): void {
  const firstByTerm = new Map<number, ServedEvent>();
  for (const e of history.events) {
    const first = firstByTerm.get(e.term);
    if (first === undefined) firstByTerm.set(e.term, e);
    else if (first.member !== e.member) fail(`two members served in term ${e.term}: ${describe(first)} and ${describe(e)}`);
  }
  // Newer terms' first instants, to compare each event against: an event of term T at instant t
  // is stale if some term > T first served at or before t.
  const firsts = [...firstByTerm.values()].sort((a, b) => a.term - b.term);
  for (const e of history.events) {
    for (const newer of firsts) {
      if (newer.term <= e.term || newer.member === e.member) continue;
      if (e.instantMs >= newer.instantMs) {
        fail(`two serving leaders at once: ${describe(e)} while the newer ${describe(newer)} had already served`);
        break;
      }
    }
  }
}

// Quorum arithmetic over a majority config and a joint config (two majorities that must both
// agree while membership changes, Raft thesis §4.3). An empty majority config agrees with
// everything, so a joint config whose outgoing half is empty behaves like a plain majority.
import { type NodeId } from './types.js';

export type VoteResult = 'pending' | 'lost' | 'won';

/** The highest index acknowledged by a majority of `voters`; +∞ for an empty config. */
export function majorityCommittedIndex(voters: ReadonlySet<NodeId>, acked: (id: NodeId) => number | undefined): number {
  const n = voters.size;
  if (n === 0) return Number.MAX_SAFE_INTEGER;
  // Runs on every append acknowledgement of every region: no array or comparator per call. The
  // values are insertion-sorted descending into a reused scratch array (n is a handful).
  const values = n <= scratch.length ? scratch : new Array<number>(n);
  let count = 0;
  for (const id of voters) {
    const v = acked(id) ?? 0;
    let i = count++;
    while (i > 0 && values[i - 1]! < v) {
      values[i] = values[i - 1]!;
      i--;
    }
    values[i] = v;
  }
  // With values sorted descending, the (n/2 + 1)-th largest is held by a majority.
  return values[Math.floor(n / 2)]!;
}

/** majorityCommittedIndex's scratch space (synchronous use only; larger configs allocate). */
const scratch: number[] = new Array<number>(16).fill(0);

export function majorityVoteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}

export function jointCommittedIndex(incoming: ReadonlySet<NodeId>, outgoing: ReadonlySet<NodeId>, acked: (id: NodeId) => number | undefined): number {
  return Math.min(majorityCommittedIndex(incoming, acked), majorityCommittedIndex(outgoing, acked));
}

export function jointVoteResult(incoming: ReadonlySet<NodeId>, outgoing: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = majorityVoteResult(incoming, votes);
  const b = majorityVoteResult(outgoing, votes);
  if (a === b) return a;
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}

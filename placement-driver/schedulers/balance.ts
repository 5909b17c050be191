// The one rule every balancing scheduler (balance-leader, balance-region, hot-region) moves by,
// and why it cannot flap. Stores have scores (leaders, region weight, hot traffic); moving an
// item of `amount` from a store scoring `from` to one scoring `to` is worth it only when
//
//     from − to > max(amount, tolerance × average score)
//
// • It strictly improves: afterwards the two differ by |from − to − 2·amount| < from − to.
// • It never undoes itself: the reverse move would need (to + amount) − (from − amount) > amount,
//   i.e. to > from, which is false. So a balanced cluster gets no operator, and a sequence of
//   moves ends (Σ score² falls by at least 2·amount·(from − to − amount) > 0 each time).
// • The tolerance (a fraction of the average) keeps large clusters from chasing small gaps.

import { invariant } from '../../common/index.js';

/** Fraction of the average score two stores may differ by without a move (TiKV's tolerant-size-ratio, in spirit). */
export const BALANCE_TOLERANCE_RATIO = 0.05;

export function isWorthMoving(from: number, to: number, amount: number, average: number, toleranceRatio: number = BALANCE_TOLERANCE_RATIO): boolean {
  invariant(amount >= 0 && toleranceRatio >= 0, 'balance amounts and tolerances are not negative');
  return from - to > Math.max(amount, toleranceRatio * average);
}

export function averageOf(values: Iterable<number>): number {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    sum += v;
    n++;
  }
  return n === 0 ? 0 : sum / n;
}

// ProposalWaiters: a proposal is answered when the entry at its (index, term) applies, is
// StaleCommand when another term's entry applies there, and DeadlineExceeded (outcome unknown)
// past its timeout; bulk failures settle exactly the waiters they name. Timers are mocked.
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { FlotillaError, isFlotillaError } from '../../common/index.js';
import { ProposalWaiters, type WaiterOutcome } from '../../raft-host/index.js';

const TIMEOUT_MS = 1_000;

function waiters(timeoutMs = TIMEOUT_MS): { w: ProposalWaiters<string>; outcomes: WaiterOutcome[] } {
  const outcomes: WaiterOutcome[] = [];
  return { w: new ProposalWaiters<string>({ what: 'region 7', timeoutMs, onOutcome: (o) => outcomes.push(o) }), outcomes };
}

/** Settles a promise into a value to assert on (never leaves a rejection unhandled). */
function settle<T>(p: Promise<T>): { result: () => { ok: T } | { err: unknown } | undefined } {
  let r: { ok: T } | { err: unknown } | undefined;
  p.then((ok) => (r = { ok }), (err: unknown) => (r = { err }));
  return { result: () => r };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ProposalWaiters', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('answers the proposal whose (index, term) applied', async () => {
    const { w, outcomes } = waiters();
    const p = w.wait(5, 2);
    assert.equal(w.size, 1);
    w.applied(4, 2, 'not mine');
    w.applied(5, 2, 'result@5');
    assert.equal(await p, 'result@5');
    assert.equal(w.size, 0);
    assert.deepEqual(outcomes, ['applied']);
  });

  it('another term at that index is StaleCommand: the proposal was lost to a leader change', async () => {
    const { w, outcomes } = waiters();
    const p = w.wait(5, 2);
    w.applied(5, 3, 'someone else');
    await assert.rejects(p, (err: unknown) => isFlotillaError(err, 'StaleCommand') && /region 7/.test(err.message));
    assert.deepEqual(outcomes, ['stale']);
  });

  it('past its timeout a proposal is DeadlineExceeded, and a late apply changes nothing', async () => {
    const { w, outcomes } = waiters();
    const s = settle(w.wait(5, 2));
    mock.timers.tick(TIMEOUT_MS - 1);
    await flush();
    assert.equal(s.result(), undefined);
    mock.timers.tick(1);
    await flush();
    const r = s.result();
    assert.ok(r !== undefined && 'err' in r && isFlotillaError(r.err, 'DeadlineExceeded'), 'DeadlineExceeded');
    assert.match((r.err as Error).message, /outcome unknown/);
    assert.equal(w.size, 0);
    w.applied(5, 2, 'late');
    assert.deepEqual(outcomes, ['timeout']);
  });

  it('a settled proposal\'s timer is cleared (no timeout after an apply or a failure)', async () => {
    const { w, outcomes } = waiters();
    const a = w.wait(1, 1);
    const b = settle(w.wait(2, 1));
    w.applied(1, 1, 'ok');
    w.failAll(new FlotillaError('Unavailable', 'stopping'));
    mock.timers.tick(TIMEOUT_MS * 2);
    await a;
    await flush();
    assert.ok(b.result() !== undefined);
    assert.deepEqual(outcomes, ['applied', 'failed']);
  });

  it('without a timeout nothing expires', async () => {
    const { w, outcomes } = waiters(0);
    const s = settle(w.wait(3, 1));
    mock.timers.tick(1e9);
    await flush();
    assert.equal(s.result(), undefined);
    w.applied(3, 1, 'eventually');
    await flush();
    assert.deepEqual(s.result(), { ok: 'eventually' });
    assert.deepEqual(outcomes, ['applied']);
  });

  it('failUpTo fails exactly the waiters at or below the index (a snapshot covered them)', async () => {
    const { w, outcomes } = waiters();
    const all = [3, 5, 6, 9].map((i) => ({ i, s: settle(w.wait(i, 1)) }));
    const err = new FlotillaError('StaleCommand', 'covered by a snapshot');
    w.failUpTo(5, err);
    await flush();
    for (const { i, s } of all) {
      if (i <= 5) assert.deepEqual(s.result(), { err }, `index ${i}`);
      else assert.equal(s.result(), undefined, `index ${i}`);
    }
    assert.equal(w.size, 2);
    assert.deepEqual(outcomes, ['failed', 'failed']);
    w.applied(6, 1, 'six');
    w.applied(9, 1, 'nine');
    await flush();
    assert.deepEqual(all.map(({ s }) => s.result()).slice(2), [{ ok: 'six' }, { ok: 'nine' }]);
  });

  it('failAll fails every waiter once', async () => {
    const { w, outcomes } = waiters();
    const all = [1, 2, 3].map((i) => settle(w.wait(i, 1)));
    const err = new FlotillaError('Unavailable', 'stopping');
    w.failAll(err);
    w.failAll(err);
    await flush();
    for (const s of all) assert.deepEqual(s.result(), { err });
    assert.equal(w.size, 0);
    assert.deepEqual(outcomes, ['failed', 'failed', 'failed']);
  });

  it('settleOlderThan settles exactly the waiters of earlier terms, at any index (an entry of a later term applied)', async () => {
    const { w, outcomes } = waiters();
    const all = [[4, 2], [9, 2], [12, 3], [20, 5]].map(([i, t]) => ({ t: t!, s: settle(w.wait(i!, t!)) }));
    w.settleOlderThan(2);
    await flush();
    assert.equal(w.size, 4, 'nothing older than term 2');
    w.settleOlderThan(4);
    await flush();
    for (const { t, s } of all) {
      const r = s.result();
      if (t < 4) assert.ok(r !== undefined && 'err' in r && isFlotillaError(r.err, 'StaleCommand'), `term ${t}: ${JSON.stringify(r)}`);
      else assert.equal(r, undefined, `term ${t} waits on`);
    }
    assert.deepEqual(outcomes, ['stale', 'stale', 'stale']);
    w.settleOlderThan(5);
    await flush();
    assert.equal(w.size, 1, 'term 5 is not older than 5');
    // Waiters of old terms added after a scan are still found: one term back, and further.
    const late = [settle(w.wait(21, 4)), settle(w.wait(22, 3))];
    const last = settle(w.wait(30, 5)); // survives the next scan
    w.settleOlderThan(5);
    await flush();
    for (const l of late) assert.ok(l.result() !== undefined && 'err' in l.result()!, 'a late old-term waiter is settled');
    w.applied(20, 5, 'twenty');
    await flush();
    assert.deepEqual(all[3]!.s.result(), { ok: 'twenty' });
    w.settleOlderThan(6);
    await flush();
    assert.ok(last.result() !== undefined && 'err' in last.result()!, 'term 5 is older than 6');
    assert.equal(w.size, 0);
  });

  it('a newer term\'s proposal at an index still awaited settles the older one as stale', async () => {
    // Leader of term 2 proposed at 7; a later leader truncated it; re-elected in term 4 it proposes at 7 again.
    const { w, outcomes } = waiters();
    const old = w.wait(7, 2);
    const fresh = w.wait(7, 4);
    await assert.rejects(old, (err: unknown) => isFlotillaError(err, 'StaleCommand'));
    w.applied(7, 4, 'fresh');
    assert.equal(await fresh, 'fresh');
    assert.deepEqual(outcomes, ['stale', 'applied']);
    const again = w.wait(8, 4);
    assert.throws(() => void w.wait(8, 4), /two proposals of term 4 wait on index 8/);
    w.applied(8, 4, 'x');
    await again;
  });
});

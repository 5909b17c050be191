// TickClock: the ticks monotonic time owes raft — none when called early, the fraction kept for
// next time (a late timer loses nothing), and a bounded replay after a long pause.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TickClock } from '../../raft-host/index.js';

function clockAt(startMs: number): { now: () => number; advance: (ms: number) => void } {
  let t = startMs;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('TickClock', () => {
  it('owes nothing when called early, one tick per tickMs after', () => {
    const c = clockAt(1_000);
    const ticks = new TickClock({ tickMs: 100, maxReplayTicks: 40, monotonicMs: c.now });
    assert.equal(ticks.due(), 0);
    c.advance(99);
    assert.equal(ticks.due(), 0);
    c.advance(1);
    assert.equal(ticks.due(), 1);
    assert.equal(ticks.due(), 0, 'paid once');
  });

  it('keeps the fraction: late timers lose no time', () => {
    const c = clockAt(0);
    const ticks = new TickClock({ tickMs: 100, maxReplayTicks: 40, monotonicMs: c.now });
    c.advance(150);
    assert.equal(ticks.due(), 1);
    c.advance(50);
    assert.equal(ticks.due(), 1, 'the 50 ms left over count toward the next tick');
    let total = 0;
    for (let i = 0; i < 1_000; i++) {
      c.advance(37);
      total += ticks.due();
    }
    assert.equal(total, 370, '37 s of 100 ms ticks, paid in small steps');
  });

  it('replays several ticks after a pause, at most maxReplayTicks, and drops the rest', () => {
    const c = clockAt(0);
    const ticks = new TickClock({ tickMs: 100, maxReplayTicks: 40, monotonicMs: c.now });
    c.advance(1_050);
    assert.equal(ticks.due(), 10, 'a pause shorter than the bound is replayed whole');
    c.advance(50);
    assert.equal(ticks.due(), 1, 'with its fraction');
    c.advance(60_000);
    assert.equal(ticks.due(), 40, 'a long pause replays the bound');
    assert.equal(ticks.due(), 0, 'the rest is dropped, not paid later');
    c.advance(100);
    assert.equal(ticks.due(), 1, 'and ticking resumes from now');
  });

  it('replays exactly the bound at the bound', () => {
    const c = clockAt(0);
    const ticks = new TickClock({ tickMs: 10, maxReplayTicks: 5, monotonicMs: c.now });
    c.advance(50);
    assert.equal(ticks.due(), 5);
    c.advance(9);
    assert.equal(ticks.due(), 0);
    c.advance(1);
    assert.equal(ticks.due(), 1);
  });
});

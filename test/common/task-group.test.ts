// The task group owns a process's background work: spawned tasks and periodic jobs. Checked here:
// a failure is logged once and never stops a periodic job; a stop because the group closed is not
// a failure; runs of one job never overlap; close() stops the timers, aborts the signal and waits
// for every running task, including one that ignores the signal; nothing starts after close.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from 'pino';
import { FlotillaError, isFlotillaError, silentLogger, sleepMs, TaskGroup } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';

interface Logged { readonly task: string; readonly err: unknown }

function recordingLogger(): { log: Logger; errors: Logged[] } {
  const errors: Logged[] = [];
  const log = silentLogger();
  log.error = ((obj: { task: string; err: unknown }) => void errors.push({ task: obj.task, err: obj.err }));
  return { log, errors };
}

/** Polls `cond` every millisecond until it holds (deploy's waitFor; its deadline means a hang, not slowness). */
async function until(what: string, cond: () => boolean): Promise<void> {
  await waitFor(what, () => (cond() ? true : undefined), { timeoutMs: 10_000, intervalMs: 1 });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('task group', () => {
  it('keeps running a periodic job after runs that throw or reject, logging each failure', async () => {
    const { log, errors } = recordingLogger();
    const group = new TaskGroup(log);
    let runs = 0;
    group.every('flaky', 1, (): Promise<void> | void => {
      runs++;
      if (runs % 3 === 1) throw new Error(`sync failure ${runs}`);
      if (runs % 3 === 2) return Promise.reject(new Error(`async failure ${runs}`));
    });
    try {
      await until('seven runs of a job that fails two runs in three', () => runs >= 7);
    } finally {
      await group.close();
    }
    const ranBeforeClose = runs;
    const failed = Math.floor((ranBeforeClose + 2) / 3) + Math.floor((ranBeforeClose + 1) / 3);
    assert.equal(errors.length, failed, 'every failed run is logged, once');
    assert.ok(errors.every((e) => e.task === 'flaky' && e.err instanceof Error));
    await sleepMs(5);
    assert.equal(runs, ranBeforeClose, 'no run after close');
  });

  it('never overlaps two runs of one job, and waits for the slow run at close', async () => {
    const group = new TaskGroup(silentLogger());
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let release = deferred();
    group.every('slow', 1, async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      await release.promise;
      active--;
    });
    await until('the first run', () => runs === 1);
    // Several intervals pass while the first run is still going: no second run may start.
    await sleepMs(10);
    assert.equal(runs, 1);
    release.resolve();
    release = deferred();
    await until('the second run', () => runs === 2);
    let closed = false;
    const closing = group.close().then(() => (closed = true));
    await sleepMs(5);
    assert.equal(closed, false, 'close waits for the running job');
    release.resolve();
    await closing;
    assert.equal(maxActive, 1);
    assert.equal(active, 0);
    assert.equal(group.size, 0);
  });

  it('aborts the signal at close with Unavailable, and a task stopping on it is not a failure', async () => {
    const { log, errors } = recordingLogger();
    const group = new TaskGroup(log);
    let seenReason: unknown;
    group.spawn('watcher', (signal) => new Promise<void>((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        seenReason = signal.reason;
        reject(signal.reason as Error);
      });
    }));
    group.spawn('fails-on-shutdown', (signal) => new Promise<void>((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(new FlotillaError('EngineError', 'flush failed while stopping')));
    }));
    assert.equal(group.signal.aborted, false);
    assert.equal(group.size, 2);
    await group.close();
    assert.ok(group.signal.aborted);
    assert.ok(isFlotillaError(seenReason, 'Unavailable'), 'the abort reason is a typed Unavailable');
    assert.deepEqual(errors.map((e) => e.task), ['fails-on-shutdown'], 'only the real failure is logged');
    assert.equal(group.size, 0);
  });

  it('waits at close for a task that ignores the signal, and for a task another task spawned', async () => {
    const group = new TaskGroup(silentLogger());
    const gate = deferred();
    const order: string[] = [];
    group.spawn('stubborn', async () => {
      await gate.promise;
      order.push('stubborn');
    });
    group.spawn('spawner', async () => {
      // A task spawned by another task is the group's too: close() awaits it like the rest.
      await Promise.resolve();
      group.spawn('child', async () => {
        await gate.promise;
        await Promise.resolve();
        order.push('child');
      });
    });
    await until('the spawner to finish', () => group.size === 2);
    const closing = group.close().then(() => order.push('closed'));
    await sleepMs(5);
    assert.deepEqual(order, []);
    gate.resolve();
    await closing;
    assert.deepEqual(order, ['stubborn', 'child', 'closed']);
  });

  it('refuses new work after close with Unavailable, and stops a job whose timer was pending', async () => {
    const group = new TaskGroup(silentLogger());
    let runs = 0;
    group.every('pending', 60_000, () => {
      runs++;
    });
    await group.close();
    assert.equal(runs, 0);
    assert.throws(() => group.spawn('late', async () => {}), (e) => isFlotillaError(e, 'Unavailable'));
    assert.throws(() => group.every('late', 1, () => {}), (e) => isFlotillaError(e, 'Unavailable'));
    await group.close(); // idempotent
  });
});

// serveInOrder over a fake call: answers in arrival order, and a handler that throws fails the
// stream (the client sees an error and reconnects) instead of stalling it forever. Back-pressure
// both ways: reading pauses at STREAM_PENDING_REQUESTS_MAX waiting requests (not one later) and
// resumes once half have been taken; handling waits while the answers' write buffer is full.
// afterThisCallback: runs once a callback's continuations are all done, before its setImmediate.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { stat } from 'node:fs';
import { afterThisCallback, serveInOrder, STREAM_PENDING_REQUESTS_MAX } from '../../common/index.js';

class FakeCall extends EventEmitter {
  written: unknown[] = [];
  destroyedWith: Error | null = null;
  ended = false;
  paused = false;
  /** write() answers false (the buffer is full) while set. */
  isFull = false;
  isPaused(): boolean {
    return this.paused;
  }
  resume(): void {
    this.paused = false;
  }
  pause(): void {
    this.paused = true;
  }
  write(v: unknown): boolean {
    this.written.push(v);
    return !this.isFull;
  }
  end(): void {
    this.ended = true;
  }
  destroy(err: Error): void {
    this.destroyedWith = err;
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('serveInOrder', () => {
  it('answers in arrival order even when later requests finish first', async () => {
    const call = new FakeCall();
    serveInOrder(call as unknown as grpc.ServerDuplexStream<number, number>, async (n: number) => {
      await new Promise((resolve) => setTimeout(resolve, n === 1 ? 20 : 0));
      return n * 10;
    });
    for (const n of [1, 2, 3]) call.emit('data', n);
    call.emit('end');
    for (let i = 0; i < 100 && !call.ended; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(call.written, [10, 20, 30]);
    assert.equal(call.ended, true);
  });

  it('destroys the stream with the error of a handler that throws', async () => {
    const call = new FakeCall();
    serveInOrder(call as unknown as grpc.ServerDuplexStream<number, number>, async (n: number) => {
      if (n === 2) throw new Error('handler bug');
      return n;
    });
    for (const n of [1, 2, 3]) call.emit('data', n);
    for (let i = 0; i < 10; i++) await settle();
    assert.deepEqual(call.written, [1]);
    assert.equal(call.destroyedWith?.message, 'handler bug');
  });

  it(`stops reading at ${STREAM_PENDING_REQUESTS_MAX} waiting requests, not one later, and reads again once half are taken`, async () => {
    const call = new FakeCall();
    const gates: (() => void)[] = [];
    serveInOrder(call as unknown as grpc.ServerDuplexStream<number, number>, (n: number) => new Promise<number>((resolve) => gates.push(() => resolve(n))));
    // The first request is taken by the handler at once; the rest wait.
    call.emit('data', 0);
    await settle();
    for (let n = 1; n < STREAM_PENDING_REQUESTS_MAX; n++) call.emit('data', n);
    assert.equal(call.paused, false, `${STREAM_PENDING_REQUESTS_MAX - 1} waiting: still reading`);
    call.emit('data', STREAM_PENDING_REQUESTS_MAX);
    assert.equal(call.paused, true, `${STREAM_PENDING_REQUESTS_MAX} waiting: paused`);
    // Handled one by one; reading resumes once fewer than half wait.
    let handled = 0;
    while (call.paused && handled < STREAM_PENDING_REQUESTS_MAX) {
      gates.shift()!();
      handled++;
      await settle();
      await settle();
    }
    assert.equal(call.paused, false);
    assert.ok(handled > STREAM_PENDING_REQUESTS_MAX / 2 - 2 && handled <= STREAM_PENDING_REQUESTS_MAX / 2 + 1, `resumed after ${handled} were handled`);
  });

  it('waits for the write buffer to drain before handling the next request', async () => {
    const call = new FakeCall();
    const handled: number[] = [];
    serveInOrder(call as unknown as grpc.ServerDuplexStream<number, number>, async (n: number) => {
      handled.push(n);
      return n;
    });
    call.isFull = true;
    for (const n of [1, 2, 3]) call.emit('data', n);
    for (let i = 0; i < 10; i++) await settle();
    assert.deepEqual(handled, [1], 'the first answer filled the buffer: nothing more is handled');
    call.isFull = false;
    call.emit('drain');
    for (let i = 0; i < 10; i++) await settle();
    assert.deepEqual(handled, [1, 2, 3]);
    assert.deepEqual(call.written, [1, 2, 3]);
  });
});

describe('afterThisCallback', () => {
  it('runs after every promise continuation and tick of the callback that asked (deep chains too), before its setImmediate, once per ask', async () => {
    const order = await new Promise<string[]>((resolve) => {
      // An I/O callback, as a store's socket reads and pool completions are.
      stat('.', () => {
        const seen: string[] = [];
        setImmediate(() => {
          seen.push('immediate');
          resolve(seen);
        });
        afterThisCallback(() => seen.push('after'));
        seen.push('sync');
        void Promise.resolve().then(() => seen.push('c1')).then(() => seen.push('c2')).then(async () => {
          await Promise.resolve();
          seen.push('c3');
          afterThisCallback(() => seen.push('after from c3'));
        });
        process.nextTick(() => {
          seen.push('tick');
          void Promise.resolve().then(() => seen.push('tick continuation'));
        });
      });
    });
    assert.deepEqual(order, ['sync', 'tick', 'c1', 'tick continuation', 'c2', 'c3', 'after', 'after from c3', 'immediate']);
  });
});

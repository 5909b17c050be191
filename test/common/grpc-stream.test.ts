// serveInOrder over a fake call: answers in arrival order, and a handler that throws fails the
// stream (the client sees an error and reconnects) instead of stalling it forever.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { serveInOrder } from '../../common/index.js';

class FakeCall extends EventEmitter {
  written: unknown[] = [];
  destroyedWith: Error | null = null;
  ended = false;
  isPaused(): boolean {
    return false;
  }
  resume(): void {}
  pause(): void {}
  write(v: unknown): boolean {
    this.written.push(v);
    return true;
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
});

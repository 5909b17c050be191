// The KV service's BatchCommands stream (store/kv-service.ts) over a scripted stream and scripted
// executors, judged against a plain model: every request id sent is answered exactly once, no
// answer is written after the server ends the stream, and it ends the stream exactly once, after
// the client half-closed and every answer was written. The seed orders what a real stream
// interleaves — more messages, answers finishing (in any order), the server's batched flush
// running (a turn of the event loop), and the client's half-close — at every point, including
// "every request answered, the flush not yet run".
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRng, type grpc, silentLogger } from '../../common/index.js';
import type { kvservicepb } from '../../proto/index.js';
import { KvService } from '../../store/kv-service.js';
import type { RawKv } from '../../store/raw-kv.js';
import type { TxnKv } from '../../store/txn-kv.js';

const SEEDS = 300;

/** A server-side duplex call as far as KvService uses it, recording what the server does. */
class ScriptedCall extends EventEmitter {
  readonly metadata = { get: (): unknown[] => [] } as unknown as grpc.Metadata;
  readonly written: string[][] = [];
  endCalls = 0;
  writesAfterEnd = 0;
  private paused = false;

  write(batch: kvservicepb.BatchCommandsResponse__Input): boolean {
    if (this.endCalls > 0) this.writesAfterEnd++;
    this.written.push([...(batch.requestIds ?? []).map(String)]);
    return true;
  }
  end(): void {
    this.endCalls++;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  isPaused(): boolean {
    return this.paused;
  }
}

/** Lets promise chains settle without letting a setImmediate (the server's flush) run. */
async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function oneTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A BatchCommands stream over a scripted call whose raw gets wait until the test finishes them (`pending`, any order). */
function openStream(): { readonly call: ScriptedCall; readonly pending: (() => void)[] } {
  const pending: (() => void)[] = [];
  const raw = {
    get: () => new Promise<kvservicepb.KvResponse__Input['rawGet']>((resolve) => pending.push(() => resolve({ notFound: true }))),
  } as unknown as RawKv;
  const service = new KvService(1n, raw, {} as TxnKv, silentLogger());
  const call = new ScriptedCall();
  service.handlers().BatchCommands(call as unknown as grpc.ServerDuplexStream<kvservicepb.BatchCommandsRequest, kvservicepb.BatchCommandsResponse__Input>);
  return { call, pending };
}

async function runSeed(seed: number): Promise<{ endedWithFlushPending: boolean }> {
  const rng = createRng(seed);
  const { call, pending } = openStream();
  const sent: string[] = [];
  let nextId = 1;
  let isHalfClosed = false;
  let endedWithFlushPending = false;
  const send = (n: number): void => {
    const ids = Array.from({ length: n }, () => String(nextId++));
    sent.push(...ids);
    const requests = ids.map(() => ({ cmd: 'rawGet', rawGet: { key: Buffer.from('k') } }));
    call.emit('data', { requests, requestIds: ids });
  };
  send(1 + rng.nextInt(4));
  for (let step = 0; step < 60; step++) {
    const roll = rng.nextInt(10);
    if (roll < 2 && !isHalfClosed) {
      send(1 + rng.nextInt(4));
    } else if (roll < 6 && pending.length > 0) {
      // Finish some answers (any order); their flush is scheduled, not run.
      for (let k = 1 + rng.nextInt(pending.length); k > 0; k--) pending.splice(rng.nextInt(pending.length), 1)[0]!();
      await settleMicrotasks();
    } else if (roll < 8) {
      await oneTurn();
    } else if (!isHalfClosed) {
      isHalfClosed = true;
      const answered = call.written.flat().length;
      if (pending.length === 0 && answered < sent.length) endedWithFlushPending = true;
      call.emit('end');
    }
  }
  // Drain: every answer finishes, the client half-closes if it has not, the flushes run.
  while (pending.length > 0) pending.shift()!();
  await settleMicrotasks();
  if (!isHalfClosed) call.emit('end');
  for (let i = 0; i < 3; i++) await oneTurn();
  const answered = call.written.flat();
  assert.deepEqual([...answered].sort(), [...sent].sort(), `seed ${seed}: the answered ids are not the sent ids, each once`);
  assert.equal(call.writesAfterEnd, 0, `seed ${seed}: ${call.writesAfterEnd} answer batch(es) written after the server ended the stream`);
  assert.equal(call.endCalls, 1, `seed ${seed}: the server ended the stream ${call.endCalls} times`);
  return { endedWithFlushPending };
}

describe('KV service: BatchCommands stream', () => {
  it('writes an answer that finishes alone within the turn that finished it, one stream message each', async () => {
    // A closed-loop client with one request in flight waits for exactly this: an answer batched
    // with nothing must still leave (common/grpc-stream.ts afterThisCallback), not wait for company.
    const { call, pending } = openStream();
    for (let id = 1; id <= 5; id++) {
      call.emit('data', { requests: [{ cmd: 'rawGet', rawGet: { key: Buffer.from('k') } }], requestIds: [String(id)] });
      assert.equal(pending.length, 1, `request ${id} was not dispatched`);
      pending.shift()!();
      await oneTurn();
      assert.deepEqual(call.written, Array.from({ length: id }, (_, i) => [String(i + 1)]), `request ${id}'s lone answer was not written in its turn`);
    }
    // One that the server answers at once (a request it cannot read), alone too.
    call.emit('data', { requests: [{}], requestIds: ['6'] });
    await oneTurn();
    assert.deepEqual(call.written.at(-1), ['6'], 'a lone refusal was not written in its turn');
    call.emit('end');
    await oneTurn();
    assert.equal(call.endCalls, 1);
  });

  it(`answers every request once and ends the stream once, after the last answer, however the client's half-close interleaves (${SEEDS} seeds)`, async () => {
    let endedWithFlushPending = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      if ((await runSeed(seed)).endedWithFlushPending) endedWithFlushPending++;
    }
    // The boundary that matters: the half-close arriving when every request is answered but the
    // batched flush has not run yet.
    assert.ok(endedWithFlushPending > 10, `only ${endedWithFlushPending} seeds half-closed with answers finished and unflushed`);
  });
});

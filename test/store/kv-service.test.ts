// The KV service's BatchCommands stream (store/kv-service.ts) over a scripted stream and scripted
// executors, judged against a plain model: every request id sent is answered exactly once, no
// answer is written after the server ends the stream, and it ends the stream exactly once, after
// the client half-closed and every answer was written. The seed orders what a real stream
// interleaves — more messages, answers finishing (in any order), the server's batched flush
// running (a turn of the event loop), and the client's half-close — at every point, including
// "every request answered, the flush not yet run". The client may also stop reading answers:
// writes then report a full buffer, the server must stop reading requests (pause) until the
// buffer drains, and resume then — a real stream delivers nothing while paused, so a server that
// never resumed would leave requests unanswered for ever.
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
  /** The client is not reading: writes report a full buffer (they are still kept, as a stream buffers them). */
  isFull = false;
  /** Pauses while the buffer was full (coverage). */
  pausesWhileFull = 0;
  /** Requests read, or resume() called, after a write reported a full buffer and before it drained: reading requests whose answers cannot leave. */
  readsWhileRefused = 0;
  private isWriteRefused = false;
  private paused = false;
  /** What the client sent, delivered in order while the call is not paused (a real stream's flow). */
  private readonly inbound: ({ readonly kind: 'data'; readonly msg: unknown } | { readonly kind: 'end' })[] = [];

  write(batch: kvservicepb.BatchCommandsResponse__Input): boolean {
    if (this.endCalls > 0) this.writesAfterEnd++;
    this.written.push([...(batch.requestIds ?? []).map(String)]);
    if (this.isFull) this.isWriteRefused = true;
    return !this.isFull;
  }
  end(): void {
    this.endCalls++;
  }
  pause(): void {
    if (this.isFull && !this.paused) this.pausesWhileFull++;
    this.paused = true;
  }
  resume(): void {
    if (this.isWriteRefused) this.readsWhileRefused++;
    this.paused = false;
    // A stream flows again on a later tick, not inside resume().
    process.nextTick(() => this.deliver());
  }
  /** The client sends a message (or half-closes): delivered now unless the call is paused. */
  send(item: { readonly kind: 'data'; readonly msg: unknown } | { readonly kind: 'end' }): void {
    this.inbound.push(item);
    this.deliver();
  }
  get undelivered(): number {
    return this.inbound.length;
  }
  /** The client reads its answers again: the buffer drains. */
  drain(): void {
    if (!this.isFull) return;
    this.isFull = false;
    this.isWriteRefused = false;
    this.emit('drain');
  }
  private deliver(): void {
    while (!this.paused && this.inbound.length > 0) {
      const item = this.inbound.shift()!;
      if (this.isWriteRefused) this.readsWhileRefused++;
      if (item.kind === 'data') this.emit('data', item.msg);
      else this.emit('end');
    }
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

async function runSeed(seed: number): Promise<{ endedWithFlushPending: boolean; pausedWhileFull: boolean }> {
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
    call.send({ kind: 'data', msg: { requests, requestIds: ids } });
  };
  send(1 + rng.nextInt(4));
  for (let step = 0; step < 80; step++) {
    const roll = rng.nextInt(14);
    if (roll >= 12) {
      // The client stops reading its answers, or reads them again.
      if (roll === 12) call.isFull = true;
      else call.drain();
    } else if (roll < 3 && !isHalfClosed) {
      send(1 + rng.nextInt(4));
    } else if (roll < 7 && pending.length > 0) {
      // Finish some answers (any order); their flush is scheduled, not run.
      for (let k = 1 + rng.nextInt(pending.length); k > 0; k--) pending.splice(rng.nextInt(pending.length), 1)[0]!();
      await settleMicrotasks();
    } else if (roll < 11) {
      await oneTurn();
    } else if (!isHalfClosed) {
      isHalfClosed = true;
      const answered = call.written.flat().length;
      if (pending.length === 0 && answered < sent.length && call.undelivered === 0) endedWithFlushPending = true;
      call.send({ kind: 'end' });
    }
  }
  // Drain: the client reads again and half-closes if it has not; every answer finishes; the
  // flushes run. A server still paused would leave requests undelivered here.
  call.drain();
  if (!isHalfClosed) call.send({ kind: 'end' });
  for (let round = 0; round < 50 && (pending.length > 0 || call.undelivered > 0 || round < 3); round++) {
    while (pending.length > 0) pending.shift()!();
    await settleMicrotasks();
    await oneTurn();
  }
  assert.equal(call.readsWhileRefused, 0, `seed ${seed}: the server read requests again while its answers could not leave`);
  assert.equal(call.undelivered, 0, `seed ${seed}: the server never read ${call.undelivered} client message(s) again (paused for ever)`);
  const answered = call.written.flat();
  assert.deepEqual([...answered].sort(), [...sent].sort(), `seed ${seed}: the answered ids are not the sent ids, each once`);
  assert.equal(call.writesAfterEnd, 0, `seed ${seed}: ${call.writesAfterEnd} answer batch(es) written after the server ended the stream`);
  assert.equal(call.endCalls, 1, `seed ${seed}: the server ended the stream ${call.endCalls} times`);
  return { endedWithFlushPending, pausedWhileFull: call.pausesWhileFull > 0 };
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

  it(`answers every request once and ends the stream once, after the last answer, however the client's half-close and its stops in reading interleave (${SEEDS} seeds)`, async () => {
    let endedWithFlushPending = 0;
    let pausedWhileFull = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runSeed(seed);
      if (r.endedWithFlushPending) endedWithFlushPending++;
      if (r.pausedWhileFull) pausedWhileFull++;
    }
    assert.ok(pausedWhileFull > 30, `only ${pausedWhileFull} seeds paused the stream for a full write buffer`);
    // The boundary that matters: the half-close arriving when every request is answered but the
    // batched flush has not run yet.
    assert.ok(endedWithFlushPending > 10, `only ${endedWithFlushPending} seeds half-closed with answers finished and unflushed`);
  });
});

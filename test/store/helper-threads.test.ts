// store/helper-threads.ts: the store's helper threads under SCHED_BATCH, its event loop not.
// A scripted host for the decisions (which threads, what counts as failure, when to stop
// trying), the real /proc of this process, and a real store process read back through /proc.

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { createLogger, type Logger } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import {
  HelperThreads, type HelperThreadsHost, type HelperThreadsState, policyOfStat, PROCESS_HOST, SCHED_BATCH, SCHED_OTHER, type ThreadInfo,
} from '../../store/helper-threads.js';
import { StoreTestCluster } from '../support/store-cluster.js';

const SCHED_FIFO = 1;

/** A stat line as Linux writes it: `comm` may hold spaces and parentheses; field 41 is the policy. */
function statLine(tid: number, comm: string, policy: number): string {
  const after: string[] = ['S', '1']; // fields 3 and 4
  for (let field = 5; field <= 52; field++) after.push(field === 41 ? String(policy) : String(field * 7));
  return `${tid} (${comm}) ${after.join(' ')}\n`;
}

/** Threads and policies in memory; `setBatch` moves what `canMove` allows and says `complaint`. */
class ScriptedHost implements HelperThreadsHost {
  readonly mainTid = 100;
  threads = new Map<number, number>();
  listCalls = 0;
  readonly setCalls: number[][] = [];
  canMove: (tid: number) => boolean = () => true;
  complaint = '';
  /** Runs between the listing and the move (a thread ending, another appearing). */
  beforeSet: () => void = () => undefined;
  noProc = false;

  constructor(threads: Record<number, number>) {
    for (const [tid, policy] of Object.entries(threads)) this.threads.set(Number(tid), policy);
  }

  listThreads(): Promise<ThreadInfo[] | null> {
    this.listCalls++;
    if (this.noProc) return Promise.resolve(null);
    return Promise.resolve([...this.threads].map(([tid, policy]) => ({ tid, policy })));
  }

  setBatch(tids: readonly number[]): Promise<string> {
    this.setCalls.push([...tids]);
    this.beforeSet();
    for (const tid of tids) if (this.threads.has(tid) && this.canMove(tid)) this.threads.set(tid, SCHED_BATCH);
    return Promise.resolve(this.complaint);
  }
}

function capturingLogger(): { log: Logger; lines: () => { level: string; msg: string; reason?: string }[] } {
  const out: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void out.push(s) } });
  return { log, lines: () => out.map((s) => JSON.parse(s) as { level: string; msg: string; reason?: string }) };
}

describe('helper threads under SCHED_BATCH (unit)', () => {
  it('reads the policy from a /proc stat line, whatever the thread name holds', () => {
    assert.equal(policyOfStat(statLine(4242, 'node', SCHED_BATCH)), SCHED_BATCH);
    assert.equal(policyOfStat(statLine(4242, 'a (b) c) d', SCHED_OTHER)), SCHED_OTHER);
    assert.equal(policyOfStat(statLine(4242, 'rocksdb:low', SCHED_FIFO)), SCHED_FIFO);
    assert.equal(policyOfStat('4242 (node) S 1 2 3'), null, 'too few fields');
    assert.equal(policyOfStat('garbage'), null);
  });

  it('moves every helper under the default policy — never the event loop, never one under another policy — and reports the count /proc shows after', async () => {
    const host = new ScriptedHost({ 100: SCHED_OTHER, 101: SCHED_OTHER, 102: SCHED_OTHER, 103: SCHED_BATCH, 104: SCHED_FIFO });
    const states: HelperThreadsState[] = [];
    const h = new HelperThreads(true, capturingLogger().log, host, (s) => states.push(s));
    assert.deepEqual(await h.apply(), { kind: 'batch', threads: 3 });
    assert.deepEqual(host.setCalls, [[101, 102]]);
    assert.equal(host.threads.get(100), SCHED_OTHER, 'the event loop keeps the default policy');
    assert.equal(host.threads.get(104), SCHED_FIFO);
    assert.deepEqual(states, [{ kind: 'batch', threads: 3 }]);
    // Nothing new: no move asked; a thread that appears later is moved by the next pass.
    assert.deepEqual(await h.apply(), { kind: 'batch', threads: 3 });
    assert.equal(host.setCalls.length, 1);
    host.threads.set(105, SCHED_OTHER);
    assert.deepEqual(await h.apply(), { kind: 'batch', threads: 4 });
    assert.deepEqual(host.setCalls[1], [105]);
  });

  it('a thread that ends between the listing and the move is no failure; concurrent passes share one', async () => {
    const host = new ScriptedHost({ 100: SCHED_OTHER, 101: SCHED_OTHER, 102: SCHED_OTHER });
    host.beforeSet = () => host.threads.delete(102);
    const h = new HelperThreads(true, capturingLogger().log, host);
    const [a, b] = await Promise.all([h.apply(), h.apply()]);
    assert.deepEqual(a, { kind: 'batch', threads: 1 });
    assert.equal(a, b, 'one pass answered both');
    assert.equal(host.setCalls.length, 1);
  });

  it('a helper chrt cannot move: one warning naming why, the policy given up (no more passes, no rescans)', async () => {
    const host = new ScriptedHost({ 100: SCHED_OTHER, 101: SCHED_OTHER, 102: SCHED_OTHER });
    host.canMove = (tid) => tid !== 102;
    host.complaint = 'chrt: failed to set pid 102\'s policy: Operation not permitted';
    const { log, lines } = capturingLogger();
    const states: HelperThreadsState[] = [];
    const h = new HelperThreads(true, log, host, (s) => states.push(s));
    h.start(5);
    await waitFor('the pass', () => (states.length > 0 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    const state = h.state;
    assert.equal(state.kind, 'failed');
    assert.match(state.kind === 'failed' ? state.reason : '', /^1 of 2 helper threads stayed under SCHED_OTHER: chrt: failed to set pid 102's policy: Operation not permitted$/);
    const warnings = lines().filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.msg, /--helper-threads-batch/);
    const calls = host.listCalls;
    assert.equal(await h.apply(), state, 'given up: the same answer, no work');
    assert.equal(host.listCalls, calls);
    h.stop();
  });

  it('chrt missing altogether: the shell\'s complaint is the reason', async () => {
    const host = new ScriptedHost({ 100: SCHED_OTHER, 101: SCHED_OTHER });
    host.canMove = () => false;
    host.complaint = 'sh: 1: chrt: not found';
    const h = new HelperThreads(true, capturingLogger().log, host);
    assert.deepEqual(await h.apply(), { kind: 'failed', reason: '1 of 1 helper threads stayed under SCHED_OTHER: sh: 1: chrt: not found' });
  });

  it('a host that throws: given up with its message, nothing thrown (the rescan timer never sees a rejection)', async () => {
    const host = new ScriptedHost({ 100: SCHED_OTHER, 101: SCHED_OTHER });
    host.setBatch = () => Promise.reject(new Error('spawn sh ENOENT'));
    const h = new HelperThreads(true, capturingLogger().log, host);
    assert.deepEqual(await h.apply(), { kind: 'failed', reason: 'spawn sh ENOENT' });
  });

  it('off: nothing read, nothing moved; no /proc: nothing moved, said once at info', async () => {
    const off = new ScriptedHost({ 100: SCHED_OTHER, 101: SCHED_OTHER });
    const states: HelperThreadsState[] = [];
    const h = new HelperThreads(false, capturingLogger().log, off, (s) => states.push(s));
    assert.deepEqual(states, [{ kind: 'off' }], 'reported at construction (the store\'s gauge reads it before start)');
    h.start(5);
    assert.deepEqual(await h.apply(), { kind: 'off' });
    assert.deepEqual(states, [{ kind: 'off' }]);
    assert.equal(off.listCalls, 0);
    h.stop();

    const bare = new ScriptedHost({});
    bare.noProc = true;
    const { log, lines } = capturingLogger();
    const u = new HelperThreads(true, log, bare);
    assert.deepEqual(await u.apply(), { kind: 'unsupported' });
    assert.deepEqual(await u.apply(), { kind: 'unsupported' });
    assert.equal(bare.setCalls.length, 0);
    assert.equal(bare.listCalls, 1);
    assert.equal(lines().filter((l) => l.level === 'info').length, 1);
  });

  it('rescans on its interval until stopped, or until a rescan fails', async () => {
    const host = new ScriptedHost({ 100: SCHED_OTHER, 101: SCHED_OTHER });
    const h = new HelperThreads(true, capturingLogger().log, host);
    h.start(5);
    await waitFor('a first pass', () => (host.setCalls.length === 1 && h.isRescanning ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    host.threads.set(102, SCHED_OTHER);
    await waitFor('the rescan that moves the new thread', () => (host.threads.get(102) === SCHED_BATCH ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    assert.ok(h.isRescanning);
    h.stop();
    assert.ok(!h.isRescanning);

    // A thread a rescan cannot move: given up, and the rescans end.
    const late = new ScriptedHost({ 100: SCHED_OTHER, 101: SCHED_OTHER });
    const g = new HelperThreads(true, capturingLogger().log, late);
    g.start(5);
    await waitFor('a first pass', () => (g.isRescanning ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    late.canMove = (tid) => tid !== 102;
    late.threads.set(102, SCHED_OTHER);
    await waitFor('the failed rescan', () => (g.state.kind === 'failed' ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    await waitFor('the rescans to end', () => (!g.isRescanning ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    g.stop();

    // The first: stopped by hand, no more passes.
    h.start(5);
    h.stop();
    const calls = host.listCalls;
    host.threads.set(103, SCHED_OTHER);
    await new Promise((resolve) => setTimeout(resolve, 50)); // several intervals: none may run
    assert.equal(host.listCalls, calls);
    assert.equal(host.threads.get(103), SCHED_OTHER);
  });

  it('the real process host lists this process\'s threads from /proc, the event loop among them', async () => {
    const threads = await PROCESS_HOST.listThreads();
    if (process.platform !== 'linux') {
      assert.equal(threads, null);
      return;
    }
    assert.ok(threads !== null);
    const main = threads.find((t) => t.tid === process.pid);
    assert.ok(main !== undefined, `the main thread ${process.pid} is not among ${JSON.stringify(threads)}`);
    assert.ok(threads.length > 1, 'node runs helper threads');
  });
});

/** Policies of a live process's threads, straight from /proc. */
async function policiesOf(pid: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const name of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${name}/stat`, 'latin1').catch(() => null);
    const policy = stat === null ? null : policyOfStat(stat);
    if (policy !== null) out.set(Number(name), policy);
  }
  return out;
}

async function helperGauge(statusAddress: string): Promise<number> {
  const text = await (await fetch(`http://${statusAddress}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text.split('\n').find((l) => l.startsWith('flotilla_store_helper_threads_batch'));
  if (line === undefined) throw new Error('no flotilla_store_helper_threads_batch in /metrics');
  return Number(line.split(' ').pop());
}

describe('helper threads of a real store process', { timeout: 120_000 }, () => {
  it('by default every helper thread runs under SCHED_BATCH and the event loop under SCHED_OTHER (Linux; elsewhere the store reports no /proc); --helper-threads-batch false leaves them all alone', async () => {
    const cluster = await StoreTestCluster.start({ stores: 1, pdCount: 1 });
    try {
      const store = cluster.stores[0]!;
      if (process.platform !== 'linux') {
        // No /proc, no SCHED_BATCH: the store says so and moves nothing.
        await waitFor('the store to report no /proc', async () => {
          const s = await cluster.storeStatus(0) as unknown as { helperThreads: HelperThreadsState };
          return s.helperThreads.kind === 'unsupported' ? true : undefined;
        }, { timeoutMs: 30_000, intervalMs: 100 });
        assert.equal(await helperGauge(store.statusAddress), -1);
        return;
      }
      const settled = await waitFor('the store\'s helper threads under SCHED_BATCH', async () => {
        const policies = await policiesOf(store.pid);
        const helpers = [...policies].filter(([tid]) => tid !== store.pid);
        return helpers.length > 0 && helpers.every(([, p]) => p === SCHED_BATCH) ? policies : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      assert.equal(settled.get(store.pid), SCHED_OTHER, 'the event loop keeps the default policy');
      const helpers = settled.size - 1;
      assert.ok(helpers >= 4, `libuv's pool alone has 4 threads; saw ${helpers} helpers`);
      // /proc can show every thread moved a moment before the store records how many it moved
      // (its status says 'batch' with 0 threads until then): poll status and /metrics together.
      const reported = await waitFor('/status and /metrics to report the moved helper threads alike', async () => {
        const status = await cluster.storeStatus(0) as unknown as { helperThreads: HelperThreadsState };
        if (status.helperThreads.kind !== 'batch' || status.helperThreads.threads === 0) return undefined;
        return await helperGauge(store.statusAddress) === status.helperThreads.threads ? status.helperThreads.threads : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      assert.ok(reported >= 4, `the store reports ${reported} helper threads moved; libuv's pool alone has 4`);

      await cluster.restartStore(0, { env: { FLOTILLA_STORE_HELPER_THREADS_BATCH: 'false' } });
      const restarted = cluster.stores[0]!;
      const off = await cluster.storeStatus(0) as unknown as { helperThreads: HelperThreadsState };
      assert.deepEqual(off.helperThreads, { kind: 'off' });
      const policies = await policiesOf(restarted.pid);
      assert.ok([...policies.values()].every((p) => p === SCHED_OTHER), `with the policy off every thread keeps SCHED_OTHER: ${JSON.stringify([...policies])}`);
      assert.equal(await helperGauge(restarted.statusAddress), -1);
    } finally {
      await cluster.stop();
    }
  });
});

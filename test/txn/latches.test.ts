// Latches and the scheduler: conflicting commands run one at a time in arrival order; others overlap.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Latches, type Snapshot, TxnScheduler } from '../../txn/index.js';
import { MemoryEngine } from '../../store/index.js';

const b = (s: string): Buffer => Buffer.from(s);

describe('latches', () => {
  it('grants a free command, queues a conflicting one, wakes it on release', () => {
    const latches = new Latches(64);
    const one = latches.gen([b('a'), b('b')]);
    const two = latches.gen([b('b'), b('c')]);
    const three = latches.gen([b('x')]);
    assert.equal(latches.acquire(one, 1), true);
    assert.equal(latches.acquire(two, 2), false);
    const sharesSlot = three.requiredSlots.some((s) => one.requiredSlots.includes(s));
    assert.equal(latches.acquire(three, 3), !sharesSlot);
    assert.deepEqual(latches.release(one, 1).includes(2), true);
    assert.equal(latches.acquire(two, 2), true);
    latches.release(two, 2);
    if (!sharesSlot) latches.release(three, 3);
  });

  it('a command on the same keys twice needs each slot once', () => {
    const latches = new Latches(1);
    const lock = latches.gen([b('a'), b('b'), b('a')]);
    assert.equal(lock.requiredSlots.length, 1);
    assert.equal(latches.acquire(lock, 1), true);
    assert.deepEqual(latches.release(lock, 1), []);
    assert.equal(latches.queuedCount, 0);
  });

  it('a lock names the sorted, distinct slots of its keys (1, 2 and more keys)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.uint8Array({ minLength: 0, maxLength: 4 }), { minLength: 1, maxLength: 5 }), (slotCount, keys) => {
      const latches = new Latches(slotCount);
      const one = (k: Uint8Array): number[] => latches.gen([k]).requiredSlots.slice();
      const want = [...new Set(keys.map((k) => one(k)[0]!))].sort((a, b) => a - b);
      assert.deepEqual(latches.gen(keys).requiredSlots, want);
      assert.deepEqual(latches.gen([...keys].reverse()).requiredSlots, want);
    }), { numRuns: 500 });
  });

  it('over generated workloads: never two holders of one slot, and every command gets its latches (no deadlock)', () => {
    // Commands of 1–4 keys over a small key space and few slots arrive one by one while holders
    // release in an order the generator picks; woken commands try again, as the scheduler does.
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 11 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 200 }),
      (slotCount, commands, choices) => {
        const latches = new Latches(slotCount);
        const locks = commands.map((keys) => latches.gen(keys.map((k) => Buffer.from([k]))));
        const holding = new Set<number>();
        let done = 0;
        let arrived = 0;
        let step = 0;
        const tryAcquire = (id: number): void => {
          if (!holding.has(id) && latches.acquire(locks[id]!, id)) holding.add(id);
        };
        /** Commands that arrived and are not done (holding or queued): the model of who is on which slot. */
        const present = new Set<number>();
        let spuriousLeft = commands.length;
        while (done < commands.length) {
          const canArrive = arrived < commands.length;
          assert.ok(canArrive || holding.size > 0, `deadlock: ${commands.length - done} commands wait and none holds its latches`);
          const pick = choices[step++ % choices.length]!;
          const waiters = [...present].filter((id) => !holding.has(id));
          if (pick % 5 === 1 && waiters.length > 0 && spuriousLeft > 0) {
            // A spurious retry (a waiter calls acquire() without being woken): it still waits
            // behind another command, and is not queued twice.
            spuriousLeft--;
            const id = waiters[pick % waiters.length]!;
            const queuedBefore = latches.queuedCount;
            assert.equal(latches.acquire(locks[id]!, id), false, `command ${id} got its latches without being woken`);
            assert.equal(latches.queuedCount, queuedBefore, `a spurious retry of command ${id} queued it again`);
            continue;
          }
          if (canArrive && (holding.size === 0 || pick % 2 === 0)) {
            const id = arrived++;
            // Every third arrival first tries without queueing (the store's blind writes): it must
            // get its latches exactly when acquire() would at once — none of its slots is held or
            // queued on (a holder is on all its slots; a waiter on those it heads and the one it
            // waits in line for) — and leave nothing behind when it does not.
            if (pick % 3 === 0) {
              const occupied = new Set<number>();
              for (const other of present) {
                const slots = locks[other]!.requiredSlots;
                for (const slot of holding.has(other) ? slots : slots.slice(0, locks[other]!.ownedCount + 1)) occupied.add(slot);
              }
              const free = locks[id]!.requiredSlots.every((slot) => !occupied.has(slot));
              const queuedBefore = latches.queuedCount;
              const got = latches.tryAcquire(locks[id]!, id);
              assert.equal(got, free, `tryAcquire of command ${id} (slots ${locks[id]!.requiredSlots.join(',')}) with slots ${free ? 'free' : 'taken'}`);
              if (got) holding.add(id);
              else assert.equal(latches.queuedCount, queuedBefore, 'a refused tryAcquire queued something');
            }
            present.add(id);
            tryAcquire(id);
          } else {
            const ids = [...holding];
            const id = ids[pick % ids.length]!;
            holding.delete(id);
            present.delete(id);
            done++;
            for (const woken of latches.release(locks[id]!, id)) tryAcquire(woken);
          }
          const owner = new Map<number, number>();
          for (const id of holding) {
            for (const slot of locks[id]!.requiredSlots) {
              assert.ok(!owner.has(slot), `commands ${owner.get(slot)} and ${id} both hold slot ${slot}`);
              owner.set(slot, id);
            }
          }
        }
        assert.equal(latches.queuedCount, 0);
      }), { numRuns: 500 });
  });

  it('the scheduler serializes commands on one key from snapshot read to write apply', async () => {
    const engine = new MemoryEngine();
    const scheduler = new TxnScheduler(engine, { latchSlots: 16, isSyncWrite: false });
    const key = b('counter');
    // A read-modify-write with awaits in the middle: without latches, increments would be lost.
    const increment = (s: Snapshot) => (async () => {
      const current = Number((await s.get(key))?.toString() ?? '0');
      await Promise.resolve();
      await s.get(key);
      return { modifications: [{ kind: 'put' as const, cf: 'raw' as const, key, value: b(String(current + 1)) }], result: current };
    })();
    const seen = await Promise.all(Array.from({ length: 50 }, () => scheduler.run([key], increment)));
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i), 'in arrival order');
    assert.equal((await engine.get(key))?.toString(), '50');
    assert.equal(scheduler.queuedCount, 0);
    // A command that throws still releases its latches.
    await assert.rejects(scheduler.run([key], async () => { throw new Error('boom'); }), /boom/);
    assert.equal(await scheduler.run([key], async () => ({ modifications: [], result: 'after' })), 'after');
    await engine.close();
  });
});

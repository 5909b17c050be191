// How fast this machine's CPU runs JavaScript right now: a fixed single-threaded workload (integer
// hashing, small objects, a Map, Buffer compares — the kinds of work a store's main thread does),
// timed three times, the best kept. The machines here are shared virtual CPUs whose speed has
// varied ~3× from one day to the next with nothing else running, so a throughput figure means
// little without it: bench summaries print it beside their figures, and two runs compare only
// when their speeds are close. A score, not a time: higher is faster.
//
//   node dist/bench/cpu-speed.js        prints the score

import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** Work units per run of the workload (the score is units per millisecond). */
const UNITS = 200_000;
const RUNS = 3;

interface Item {
  readonly id: number;
  readonly key: Buffer;
}

function workload(): number {
  let h = 0x811c9dc5;
  const map = new Map<number, Item>();
  const a = Buffer.alloc(16);
  const b = Buffer.alloc(16);
  for (let i = 0; i < UNITS; i++) {
    h = Math.imul(h ^ i, 0x01000193) >>> 0;
    a.writeUInt32BE(h, 12);
    b.writeUInt32BE(i, 12);
    const item: Item = { id: h & 0xffff, key: a.compare(b) < 0 ? a : b };
    map.set(item.id, item);
    if (map.size > 4_096) map.clear();
    h ^= item.key[15]!;
  }
  return h;
}

/** The score: workload units per millisecond, best of three runs (after one unmeasured run). */
export function measureCpuSpeed(): number {
  let sink = workload();
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    sink ^= workload();
    best = Math.min(best, performance.now() - t0);
  }
  if (sink === 0.5) console.log(sink); // never true; keeps the work observable
  return Math.round(UNITS / best);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`cpu speed: ${measureCpuSpeed()} (work units per ms, one thread; higher is faster)`);
}

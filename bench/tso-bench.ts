// TSO throughput and latency from ONE client stream with batching: C concurrent callers loop on
// PdClient.getTimestamp(); its TSO client folds whoever is waiting into one stream request. Starts its own
// single-member PD as a real process (or targets --pd host:port). Numbers, not a test.
//
//   npm run bench:tso -- [--seconds 5] [--callers 1,64,1024] [--pd 127.0.0.1:2379]

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PdClient } from '../client/index.js';
import { allocatePdMember, startPdProcess, waitFor, type LocalProcess } from '../deploy/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const SAMPLES_MAX = 2_000_000;

async function runPhase(tso: PdClient, callers: number, seconds: number): Promise<{ tsPerSec: number; reqPerSec: number; p50Us: number; p99Us: number }> {
  const deadline = performance.now() + seconds * 1000;
  const samples = new Float64Array(SAMPLES_MAX);
  let n = 0;
  let count = 0;
  const requestsBefore = tso.tsoRequestsSent;
  const start = performance.now();
  let last = 0n;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const ts = await tso.getTimestamp();
      if (callers === 1 && ts <= last) throw new Error(`TSO went backwards: ${ts} after ${last}`);
      last = ts;
      if (n < SAMPLES_MAX) samples[n++] = performance.now() - t0;
      count++;
    }
  };
  await Promise.all(Array.from({ length: callers }, loop));
  const elapsed = (performance.now() - start) / 1000;
  const sorted = samples.subarray(0, n).sort();
  return { tsPerSec: count / elapsed, reqPerSec: (tso.tsoRequestsSent - requestsBefore) / elapsed, p50Us: percentile(sorted, 0.5) * 1000, p99Us: percentile(sorted, 0.99) * 1000 };
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '5'));
  const callerCounts = arg('callers', '1,16,256,4096').split(',').map(Number);
  let pdProcess: LocalProcess | undefined;
  let dir: string | undefined;
  let endpoint = arg('pd', '');
  let tso: PdClient | undefined;
  try {
    if (endpoint === '') {
      dir = await mkdtemp(join(tmpdir(), 'flotilla-tso-bench-'));
      const member = await allocatePdMember('pd1');
      pdProcess = await startPdProcess({ member, cluster: [member], dataDir: dir, logLevel: 'warn' });
      endpoint = `127.0.0.1:${member.clientPort}`;
    }
    const client = await PdClient.connect({ pdEndpoints: [endpoint], requestTimeoutMs: 30_000 });
    tso = client;
    await waitFor('TSO serving', async () => (await client.getTimestamp().then(() => true, () => undefined)), { timeoutMs: 30_000 });
    console.log(`TSO bench: PD ${client.leaderAddress}, ${seconds}s per phase, one stream, batching on`);
    console.log('callers   ts/s        requests/s   ts/request   p50 µs    p99 µs');
    for (const callers of callerCounts) {
      const r = await runPhase(client, callers, seconds);
      console.log(
        `${String(callers).padEnd(9)} ${Math.round(r.tsPerSec).toString().padEnd(11)} ${Math.round(r.reqPerSec).toString().padEnd(12)} ${(r.tsPerSec / r.reqPerSec).toFixed(1).padEnd(12)} ${r.p50Us.toFixed(0).padEnd(9)} ${r.p99Us.toFixed(0)}`,
      );
    }
  } finally {
    tso?.close();
    await pdProcess?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}

await main();

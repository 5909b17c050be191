// On-demand raft simulation: `npm run sim -- --seeds 50000` sweeps seeds 0..N-1 (or from
// --from) and prints the coverage counters of the sweep (how often each fault and feature
// happened; a zero is a blind spot and is flagged); `npm run sim -- --seed 1234` replays one
// seed with its trace on failure (--trace prints it always). `--quiet always|off` forces quiet
// mode (hibernation) on or off in every seed (default: the seed decides, ~30% on). Exits non-zero on the first
// violation (or on every one with --keep-going), printing the seed and replay command.
import { REQUIRED_COVERAGE, addCoverage, newCoverage, replayCommand, runSeed } from './raft-simulator.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quietArg = arg('--quiet');
const quiet = quietArg === 'always' || quietArg === 'off' ? quietArg : 'seeded';
const one = arg('--seed');
const showTrace = process.argv.includes('--trace');
if (one !== undefined) {
  const seed = Number(one);
  const r = runSeed(seed, { trace: true, quiet });
  if (showTrace || !r.ok) for (const line of r.trace) console.log(line);
  if (r.ok) {
    console.log(`seed ${seed}: ok ${JSON.stringify(r.stats)} trace ${r.traceHash.toString(16)}`);
  } else {
    console.error(`seed ${seed}: FAILED at tick ${r.tick}: ${r.error}`);
    process.exitCode = 1;
  }
} else {
  const count = Number(arg('--seeds') ?? '2000');
  const from = Number(arg('--from') ?? '0');
  const started = process.hrtime.bigint();
  let failures = 0;
  const coverage = newCoverage();
  let leaderAfterHealTicksMax = 0;
  for (let s = from; s < from + count; s++) {
    const r = runSeed(s, { quiet });
    if (r.ok && r.stats.leaderAfterHealTicks > leaderAfterHealTicksMax) leaderAfterHealTicksMax = r.stats.leaderAfterHealTicks;
    if (!r.ok) {
      failures++;
      console.error(`seed ${s}: FAILED at tick ${r.tick}: ${r.error}\n  replay: ${replayCommand(s)}`);
      if (!process.argv.includes('--keep-going')) break;
    } else addCoverage(coverage, r.stats);
    if ((s - from + 1) % 5000 === 0) console.log(`${s - from + 1} seeds…`);
  }
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  console.log('coverage over the sweep:');
  for (const k of REQUIRED_COVERAGE) console.log(`  ${k.padEnd(32)} ${String(coverage[k]).padStart(10)}${coverage[k] === 0 ? '   <- BLIND SPOT' : ''}`);
  console.log(`longest wait for a leader after healing: ${leaderAfterHealTicksMax} ticks`);
  console.log(`${count} seeds from ${from}: ${failures} failed, ${coverage.committed} entries committed, ${secs.toFixed(1)} s`);
  if (failures > 0 || REQUIRED_COVERAGE.some((k) => coverage[k] === 0)) process.exitCode = 1;
}

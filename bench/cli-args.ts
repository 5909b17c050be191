// Flags of the micro-benchmarks that take `--name <number>`: nothing more than argv lookups.

/** The positive number after `name` in argv, or `dflt` when the flag is absent or not a positive number. */
export function positiveNumberArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

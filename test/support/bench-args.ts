// Parses a bench harness command line written as one string (tests of bench/harness/args.ts).
import assert from 'node:assert/strict';
import { type BenchSettings, parseBenchArgs } from '../../bench/harness/args.js';

export function parseBench(args: string): BenchSettings {
  const s = parseBenchArgs(args.split(' ').filter((a) => a !== ''));
  assert.notEqual(s, 'help');
  return s as BenchSettings;
}

// Runs every compiled test file under dist/test with node's built-in test runner and its own
// summary. Usage: node scripts/run-tests.mjs [subdir ...]   (e.g. `raft` for dist/test/raft).
// FLOTILLA_TEST_CONCURRENCY bounds how many test files run at once (default 2: CI has 2 cores).
// FLOTILLA_TEST_TIMEOUT_MS fails a single test that runs longer (default 10 min: a hang, not a slow test).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const testRoot = join(root, 'dist', 'test');
const dirs = process.argv.length > 2 ? process.argv.slice(2).map((d) => join(testRoot, d)) : [testRoot];

function collect(path, out) {
  if (!existsSync(path)) return;
  if (statSync(path).isFile()) {
    if (path.endsWith('.test.js')) out.push(path);
    return;
  }
  for (const name of readdirSync(path).sort()) collect(join(path, name), out);
}

const files = [];
for (const d of dirs) collect(d, files);
if (files.length === 0) {
  console.error(`run-tests: no *.test.js under ${dirs.join(', ')} (did the build run?)`);
  process.exit(1);
}
const concurrency = process.env.FLOTILLA_TEST_CONCURRENCY ?? '2';
// A test that hangs fails after this long instead of holding CI until its budget runs out (the
// longest test, the txn model property test, takes ~3 min on CI's 2 cores).
const timeoutMs = process.env.FLOTILLA_TEST_TIMEOUT_MS ?? String(10 * 60 * 1000);
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(result.status ?? 1);

// How a test cluster's processes end once the test is over. Normally kill -9 (fast, and the data
// dir is removed anyway); under NODE_V8_COVERAGE (`npm run coverage`) a graceful stop instead, so
// every store and PD process writes its coverage on exit — a process killed with -9 writes none,
// and the code only real processes run would count as never run.

import type { LocalProcess } from '../../deploy/index.js';

const GRACE_MS = 3_000;

export function endProcess(p: LocalProcess): Promise<void> {
  const isCoverageRun = (process.env['NODE_V8_COVERAGE'] ?? '') !== '';
  return isCoverageRun ? p.stop(GRACE_MS) : p.kill();
}

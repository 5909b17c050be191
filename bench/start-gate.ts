// bench:store's --start-gate: before point n a run writes `<gate>.<n>.ready` and waits until
// `<gate>.<n>` exists — bench:ab (ab.ts, coordinateGates) creates it once both of its runs are
// ready, so that their loads start at the same moment.

import { access, writeFile } from 'node:fs/promises';
import { sleepMs } from '../common/index.js';

/** How long a gated point waits for its start file before the run fails. */
export const START_GATE_WAIT_MS = 10 * 60_000;

/** How often the start file is looked for. */
const START_GATE_POLL_MS = 20;

/** Says point `n` is ready to start (`${gate}.${n}.ready`) and waits for `${gate}.${n}` (polled); throws past `waitMs`. */
export async function passStartGate(gate: string, n: number, waitMs = START_GATE_WAIT_MS): Promise<void> {
  await writeFile(`${gate}.${n}.ready`, '');
  const deadline = performance.now() + waitMs;
  for (;;) {
    try {
      await access(`${gate}.${n}`);
      return;
    } catch {
      if (performance.now() > deadline) throw new Error(`--start-gate: ${gate}.${n} did not appear within ${waitMs >= 60_000 ? `${waitMs / 60_000} min` : `${waitMs} ms`}`);
      await sleepMs(START_GATE_POLL_MS);
    }
  }
}

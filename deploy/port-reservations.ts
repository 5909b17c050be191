// Ports held across processes on this machine. A port that is free now is not free for the whole
// life of a test cluster: a store killed on purpose leaves its port unbound until it restarts, and
// another process picking ports meanwhile (a second test file running in parallel, a bench) could
// take it — the restart then fails with EADDRINUSE, or, worse, a client still holding the address
// reaches the other cluster's server. So a process that hands out a port records it as a file named
// after the port, holding its pid, in one directory under the temp dir; others pass over it while
// that pid lives. The files go when the process exits; a killed process's are reclaimed by the
// next process that finds their pid gone.

import { unlinkSync } from 'node:fs';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where reservations live: one file per port, its content the holder's pid. */
export const PORT_RESERVATIONS_DIR = join(tmpdir(), 'flotilla-ports');

const heldHere = new Set<number>();
let isDirReady = false;
let isExitHookSet = false;

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, but another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseAllAtExit(): void {
  if (isExitHookSet) return;
  isExitHookSet = true;
  process.once('exit', () => {
    // Synchronous by necessity: nothing asynchronous runs in an exit handler.
    for (const port of heldHere) {
      try {
        unlinkSync(join(PORT_RESERVATIONS_DIR, String(port)));
      } catch {
        /* already gone */
      }
    }
  });
}

/**
 * Records `port` as held by this process. False when a living process holds it; true when it is
 * ours now (also when this machine's temp dir cannot hold reservations: then nothing is shared,
 * as before this existed).
 */
export async function reservePort(port: number): Promise<boolean> {
  if (heldHere.has(port)) return true;
  const path = join(PORT_RESERVATIONS_DIR, String(port));
  try {
    if (!isDirReady) {
      await mkdir(PORT_RESERVATIONS_DIR, { recursive: true });
      isDirReady = true;
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(path, String(process.pid), { flag: 'wx' });
        heldHere.add(port);
        releaseAllAtExit();
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isProcessAlive(holder)) return false;
      // Its holder is gone (killed before it could clean up; our pid is an old one's, reused): reclaim it.
      await unlink(path).catch(() => undefined);
    }
    return false;
  } catch {
    return true;
  }
}

// Preloaded into a store process (NODE_OPTIONS=--import <this file>) by `bench:store
// --cpu-prof-dir`: node 20 refuses --cpu-prof in NODE_OPTIONS, and deploy/ spawns `node <script>`
// without node flags. Starts V8's sampling profiler on the main thread through the in-process
// inspector and writes CPU.<pid>.cpuprofile into $FLOTILLA_BENCH_CPU_PROF_DIR when the process
// exits normally (the store exits 0 after SIGTERM). The in-process inspector session answers
// synchronously, which is what lets this run inside an 'exit' handler. Not for kill -9.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { CPU_PROF_DIR_ENV } from './store-bench-protocol.js';

/** V8's sampling interval, µs (the same as node --cpu-prof's default). */
const SAMPLING_INTERVAL_US = 1_000;

const dir = process.env[CPU_PROF_DIR_ENV];
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err !== null) {
        process.stderr.write(`cpu-profile-preload: Profiler.stop failed: ${err.message}\n`);
        return;
      }
      writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}

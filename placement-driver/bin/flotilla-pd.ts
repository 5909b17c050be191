#!/usr/bin/env node
// flotilla-pd: starts one placement-driver member. `flotilla-pd --help` lists every flag.

import { armFailpointsFromSpec, createLogger, describeFatal, installProcessHandlers, renderConfigHelp } from '../../common/index.js';
import { loadPdConfig, PD_CONFIG_SCHEMA, PD_ENV_PREFIX } from '../config.js';
import { PdServer } from '../server.js';

const USAGE = `flotilla-pd — a Flotilla placement driver member (TSO, IDs, cluster metadata, scheduling)

Usage: flotilla-pd [flags]

Examples:
  flotilla-pd --name pd1 --data-dir /var/lib/flotilla/pd1
  flotilla-pd --name pd1 --client-urls 127.0.0.1:2379 --peer-urls 127.0.0.1:2380 --http-url 127.0.0.1:2381 \\
              --initial-cluster pd1=127.0.0.1:2380,pd2=127.0.0.1:2480,pd3=127.0.0.1:2580

Flags (also FLOTILLA_PD_<FLAG> in the environment, or keys of a JSON --config file):
${renderConfigHelp(PD_CONFIG_SCHEMA, PD_ENV_PREFIX)}
  --help                          print this help`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let config;
  try {
    config = await loadPdConfig(argv, process.env);
    armFailpointsFromSpec(process.env['FLOTILLA_FAILPOINTS']); // fault tests only; unset in production
  } catch (err) {
    process.stderr.write(`flotilla-pd: ${describeFatal(err)}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: config.logLevel, base: { process: 'pd', name: config.name } });
  let server: PdServer;
  try {
    server = await PdServer.start(config, log, {
      onFatal: (err) => {
        // Raft's view and the disk may disagree now: stop, and let the supervisor restart from disk.
        log.fatal({ err }, `stopping: ${describeFatal(err)}`);
        log.flush();
        process.stderr.write(`flotilla-pd: stopping: ${describeFatal(err)}\n`);
        process.exit(1);
      },
    });
  } catch (err) {
    log.fatal({ err }, `cannot start: ${describeFatal(err)}`);
    log.flush();
    process.stderr.write(`flotilla-pd: cannot start: ${describeFatal(err)}\n`);
    process.exit(1);
  }
  installProcessHandlers(log, () => server.stop());
}

await main();

#!/usr/bin/env node
// flotilla-store: starts one store node. `flotilla-store --help` lists every flag.

import { armFailpointsFromSpec, createLogger, describeFatal, installProcessHandlers, renderConfigHelp } from '../../common/index.js';
import { loadStoreConfig, STORE_CONFIG_SCHEMA, STORE_ENV_PREFIX } from '../config.js';
import { StoreServer } from '../server.js';

const USAGE = `flotilla-store — a Flotilla store node (regions replicated with raft over one RocksDB; the KV service)

Usage: flotilla-store [flags]

Examples:
  flotilla-store --pd 127.0.0.1:2379 --data-dir /var/lib/flotilla/store1
  flotilla-store --pd 127.0.0.1:2379,127.0.0.1:2479 --addr 127.0.0.1:20160 --status-addr 127.0.0.1:20180 \\
                 --data-dir ./data/store1 --labels zone=z1,host=h1

Flags (also FLOTILLA_STORE_<FLAG> in the environment, or keys of a JSON --config file):
${renderConfigHelp(STORE_CONFIG_SCHEMA, STORE_ENV_PREFIX)}
  --help                          print this help`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let config;
  try {
    config = await loadStoreConfig(argv, process.env);
    armFailpointsFromSpec(process.env['FLOTILLA_FAILPOINTS']); // fault tests only; unset in production
  } catch (err) {
    process.stderr.write(`flotilla-store: ${describeFatal(err)}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: config.logLevel, base: { process: 'store' } });
  let server: StoreServer;
  try {
    server = await StoreServer.start(config, log, {
      onFatal: (err) => {
        log.fatal({ err }, `stopping: ${describeFatal(err)}`);
        log.flush();
        process.stderr.write(`flotilla-store: stopping: ${describeFatal(err)}\n`);
        process.exit(1);
      },
    });
  } catch (err) {
    log.fatal({ err }, `cannot start: ${describeFatal(err)}`);
    log.flush();
    process.stderr.write(`flotilla-store: cannot start: ${describeFatal(err)}\n`);
    process.exit(1);
  }
  installProcessHandlers(log, () => server.stop());
}

await main();

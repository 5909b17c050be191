#!/usr/bin/env -S node --max-semi-space-size=64 --initial-old-space-size=128
// flotilla-store: starts one store node. `flotilla-store --help` lists every flag.

import { createLogger, renderConfigHelp, runServerMain } from '../../common/index.js';
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

await runServerMain({
  name: 'flotilla-store',
  usage: USAGE,
  loadConfig: loadStoreConfig,
  createLogger: (config) => createLogger({ level: config.logLevel, base: { process: 'store' } }),
  start: (config, log, onFatal) => StoreServer.start(config, log, { onFatal }),
});

#!/usr/bin/env -S node --max-semi-space-size=64 --initial-old-space-size=128
// flotilla-pd: starts one placement-driver member. `flotilla-pd --help` lists every flag.

import { createLogger, renderConfigHelp, runServerMain } from '../../common/index.js';
import { loadPdConfig, PD_CONFIG_SCHEMA, PD_ENV_PREFIX } from '../config.js';
import { PdServer } from '../server.js';

const USAGE = `flotilla-pd — a Flotilla placement driver member (TSO, IDs, cluster metadata, scheduling)

Usage: flotilla-pd [flags]
  From a checkout (after npm run build): node dist/placement-driver/bin/flotilla-pd.js [flags]
  Where flotilla is installed as a package: npx flotilla-pd [flags]

Examples:
  flotilla-pd --name pd1      # one member: gRPC 127.0.0.1:2379, raft 2380, HTTP 2381, data in ./flotilla-pd.pd1
  flotilla-pd --name pd1 --data-dir /var/lib/flotilla/pd1 --client-urls 127.0.0.1:2379 --peer-urls 127.0.0.1:2380 \\
              --http-url 127.0.0.1:2381 --initial-cluster pd1=127.0.0.1:2380,pd2=127.0.0.1:2480,pd3=127.0.0.1:2580
  (then pd2 and pd3 alike, on their own ports; placement-driver/README.md shows all three)

Flags (also FLOTILLA_PD_<FLAG> in the environment, or keys of a JSON --config file):
${renderConfigHelp(PD_CONFIG_SCHEMA, PD_ENV_PREFIX)}
  --help                          print this help`;

await runServerMain({
  name: 'flotilla-pd',
  usage: USAGE,
  loadConfig: loadPdConfig,
  createLogger: (config) => createLogger({ level: config.logLevel, base: { process: 'pd', name: config.name } }),
  start: (config, log, onFatal) => PdServer.start(config, log, { onFatal }),
});

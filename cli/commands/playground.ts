import { Flags } from '@oclif/core';
import { LOCAL_CLUSTER_DEFAULTS, LocalCluster, type LocalClusterInfo } from '../../deploy/index.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BareCommand } from '../base-command.js';

/** The checkout the CLI runs from, where `./flotilla` lives. */
const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export class Playground extends BareCommand {
  static override summary = 'Start a local cluster (PD members and stores as real processes on 127.0.0.1) and keep it running until Ctrl-C';
  static override description = `Data persists in --data-dir across runs unless --clean. The endpoints it started are written as
JSON to <data-dir>/cluster.json. Ports: PD member i (from 0) uses --pd-port + 3i (client gRPC), +1 (raft),
+2 (HTTP API and dashboard); store i uses --store-port + i and --status-port + i.`;
  static override examples = [
    '<%= config.bin %> playground',
    '<%= config.bin %> playground --pd 3 --stores 3 --clean',
    '<%= config.bin %> playground --data-dir /tmp/flotilla --pd-port 12379 --store-port 30160 --status-port 30180',
  ];
  static override flags = {
    pd: Flags.integer({ description: 'PD members (1, 3, 5 or 7)', default: LOCAL_CLUSTER_DEFAULTS.pds, min: 1, max: 7 }),
    stores: Flags.integer({ description: 'stores', default: LOCAL_CLUSTER_DEFAULTS.stores, min: 1, max: 16 }),
    'data-dir': Flags.string({ description: 'where the cluster keeps its data and logs', default: LOCAL_CLUSTER_DEFAULTS.dataDir }),
    clean: Flags.boolean({ description: 'remove the data dir first (start empty)', default: false }),
    'pd-port': Flags.integer({ description: 'first PD member\'s client gRPC port', default: LOCAL_CLUSTER_DEFAULTS.pdClientPort, min: 1, max: 65_000 }),
    'store-port': Flags.integer({ description: 'first store\'s gRPC port', default: LOCAL_CLUSTER_DEFAULTS.storePortBase, min: 1, max: 65_000 }),
    'status-port': Flags.integer({ description: 'first store\'s HTTP status port', default: LOCAL_CLUSTER_DEFAULTS.statusPortBase, min: 1, max: 65_000 }),
    'log-level': Flags.string({ description: 'the servers\' log level (their logs are in the data dir)', default: 'info', options: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Playground);
    this.log(`starting ${flags.pd} PD member(s) and ${flags.stores} store(s) in ${flags['data-dir']}…`);
    const cluster = await LocalCluster.start({
      dataDir: flags['data-dir'], pds: flags.pd, stores: flags.stores, clean: flags.clean,
      pdClientPort: flags['pd-port'], storePortBase: flags['store-port'], statusPortBase: flags['status-port'], logLevel: flags['log-level'],
    });
    this.log(banner(cluster.info, flags['pd-port'] === LOCAL_CLUSTER_DEFAULTS.pdClientPort && flags.pd === 1));
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        this.log(`\n${signal}: stopping the cluster…`);
        cluster.stop().then(resolve, resolve);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    this.log('stopped');
  }
}

function banner(info: LocalClusterInfo, defaultEndpoint: boolean): string {
  const pdFlag = defaultEndpoint ? '' : ` --pd ${info.pdEndpoints}`;
  const lines = [
    '',
    `Flotilla playground is up (data in ${info.dataDir}; endpoints in ${info.dataDir}/cluster.json)`,
    '',
    ...info.pdMembers.map((p) => `  ${p.name.padEnd(8)} PD      ${p.clientAddress}   HTTP ${p.httpUrl}`),
    ...info.stores.map((s) => `  ${s.name.padEnd(8)} store   ${s.address}   status ${s.statusUrl}   pid ${s.pid}`),
    '',
    `  PD endpoint  ${info.pdEndpoints}`,
    `  dashboard    ${info.dashboardUrl}`,
    '',
    `In another terminal${process.cwd() === PACKAGE_ROOT ? '' : ` (in ${PACKAGE_ROOT})`}, try:`,
    `  ./flotilla cluster status${pdFlag}`,
    `  ./flotilla kv put greeting hello${pdFlag}`,
    `  ./flotilla kv get greeting${pdFlag}`,
    `  ./flotilla kv put counter 1 --txn${pdFlag}`,
    `  ./flotilla kv scan --prefix g${pdFlag}`,
    `  ./flotilla region list${pdFlag}`,
    `  ./flotilla tso${pdFlag}`,
    '',
    'Ctrl-C stops the cluster; its data stays for the next run (--clean starts empty).',
  ];
  return lines.join('\n');
}

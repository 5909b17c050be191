// `npm start`: a local cluster as real processes on 127.0.0.1 — one PD (client gRPC 127.0.0.1:2379,
// HTTP 127.0.0.1:2381) and three stores — with data kept in ./data/playground across runs
// (`npm start -- --clean` starts empty). Ctrl-C stops every process. The full playground command
// (`flotilla playground`, PD dashboard) arrives with the CLI (roadmap F8).
import { LocalCluster, LOCAL_CLUSTER_DEFAULTS } from '../dist/deploy/index.js';

const clean = process.argv.includes('--clean');
let cluster;
try {
  cluster = await LocalCluster.start({ ...LOCAL_CLUSTER_DEFAULTS, clean, logLevel: 'warn' });
} catch (err) {
  console.error(`flotilla: cannot start the local cluster: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
const { info } = cluster;
console.log(`Flotilla local cluster is up (data in ${info.dataDir}, endpoints in ${info.dataDir}/cluster.json)

  PD            ${info.pd.clientAddress}   (HTTP ${info.pd.httpUrl}/pd/api/v1/health)
${info.stores.map((s) => `  ${s.name.padEnd(13)} ${s.address}   (status ${s.statusUrl}, pid ${s.pid})`).join('\n')}

Try:
  curl -s ${info.pd.httpUrl}/pd/api/v1/stores
  curl -s ${info.stores[0].statusUrl}

Ctrl-C stops the cluster.`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log('stopping…');
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

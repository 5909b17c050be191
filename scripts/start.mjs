// `npm start`: the local playground (PD + stores as real processes). The playground arrives with
// the CLI (roadmap F8); until the store server exists there is no cluster to start.
console.error(
  'flotilla: the local playground is not available yet — the placement driver and store servers are still being built (see README.md, "Status").',
);
process.exit(1);

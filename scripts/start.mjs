// `npm start`: the local playground (PD + stores as real processes). The playground arrives with
// the CLI (roadmap F8); until the store server exists there is no cluster to start.
console.error(
  'flotilla: the local playground is not available yet — it needs the store server, which is still being built (see README.md, "Status"). A placement driver runs today: node dist/placement-driver/bin/flotilla-pd.js --help',
);
process.exit(1);

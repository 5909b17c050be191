// Micro-benchmark of raft/ (not a test): a 3-node in-memory group, every node persisting into
// a MemoryStorage and applying, messages delivered in-process (raft-rounds.ts). The leader proposes
// batches of entries; we report entries committed (applied on the leader) per second and CPU µs per
// entry.
// Usage: npm run bench:raft -- [--entries 200000] [--batch 64] [--bytes 128]
import { measureRaftRounds } from './raft-rounds.js';
import { positiveNumberArg } from './cli-args.js';

const result = measureRaftRounds({ entries: positiveNumberArg('--entries', 200_000), batch: positiveNumberArg('--batch', 64), entryBytes: positiveNumberArg('--bytes', 128) });
console.log(JSON.stringify({ ...result, note: 'all three nodes run in this one process, so CPU per entry covers leader + 2 followers' }));

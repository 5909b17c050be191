// Region snapshots (issue F7): generation on the leader, streaming, receiving, crash-safe install.
export * from './limits.js';
export * from './codec.js';
export * from './files.js';
export * from './generator.js';
export * from './sender.js';
export * from './receiver.js';
export * from './apply.js';
export * from './metrics.js';

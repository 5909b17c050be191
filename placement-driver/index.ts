// placement-driver/: the PD server. See README.md. The executable is bin/flotilla-pd.ts.
export * from './tso.js';
export * from './id-allocator.js';
export * from './region-index.js';
export * from './cluster-config.js';
export * from './state-machine.js';
export * from './operators.js';
export * from './config.js';
export { PdServer, type PdAddresses, type PdServerOptions } from './server.js';

export * from './lock.js';
export * from './write.js';
export * from './latest.js';

export * from './lock.js';
export * from './write.js';

// store/: see README.md and ../../shared/DESIGN.md §2. Public surface grows here.
export * from './engine/index.js';

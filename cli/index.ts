// cli/: the `flotilla` admin CLI (oclif). See README.md and ../../shared/DESIGN.md §2.
export { COMMANDS } from './commands.js';

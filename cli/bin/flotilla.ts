#!/usr/bin/env node
// `flotilla`: the admin CLI (oclif). `flotilla --help` lists every command.
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });

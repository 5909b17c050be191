// cli/README.md's reference is generated from the commands: it must match them (run
// `npm run cli:reference` after changing a command), and every command must document itself.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../cli/index.js';
import { cliReference, REFERENCE_BEGIN, REFERENCE_END } from '../../cli/reference.js';

const README = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'cli', 'README.md');

describe('CLI reference', () => {
  it('cli/README.md carries the reference generated from the commands (npm run cli:reference)', async () => {
    const text = await readFile(README, 'utf8');
    const begin = text.indexOf(REFERENCE_BEGIN);
    const end = text.indexOf(REFERENCE_END);
    assert.ok(begin >= 0 && end > begin, 'markers present');
    assert.equal(text.slice(begin + REFERENCE_BEGIN.length, end).trim(), cliReference().trim(), 'stale: run `npm run cli:reference`');
  });

  it('every command has a summary, examples, and a description for each argument and flag', () => {
    for (const [id, cmd] of Object.entries(COMMANDS)) {
      assert.ok((cmd.summary ?? '').length > 10, `${id}: summary`);
      assert.ok((cmd.examples ?? []).length > 0, `${id}: examples`);
      for (const [name, arg] of Object.entries(cmd.args ?? {})) assert.ok((arg.description ?? '').length > 0, `${id}: argument ${name} described`);
      for (const [name, flag] of Object.entries({ ...cmd.baseFlags, ...cmd.flags })) assert.ok((flag.description ?? '').length > 0, `${id}: --${name} described`);
    }
  });
});

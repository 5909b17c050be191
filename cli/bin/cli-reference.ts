// `npm run cli:reference`: rewrites the generated part of cli/README.md from the commands.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliReference, REFERENCE_BEGIN, REFERENCE_END } from '../reference.js';

const readme = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'cli', 'README.md');
const text = await readFile(readme, 'utf8');
const begin = text.indexOf(REFERENCE_BEGIN);
const end = text.indexOf(REFERENCE_END);
if (begin < 0 || end < begin) {
  process.stderr.write(`cli-reference: ${readme} lacks the ${REFERENCE_BEGIN} … ${REFERENCE_END} markers\n`);
  process.exit(1);
}
await writeFile(readme, `${text.slice(0, begin + REFERENCE_BEGIN.length)}\n\n${cliReference()}\n\n${text.slice(end)}`);
process.stdout.write(`cli-reference: ${readme} updated\n`);

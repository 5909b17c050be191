// Runs every test/raft/testdata/*.txt transcript; REWRITE=1 regenerates expected output.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TranscriptRunner, formatTranscript, parseTranscript } from './transcript.js';

// Compiled to dist/test/raft; the transcripts stay in the source tree.
const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, '..', '..', '..', 'test', 'raft', 'testdata');
const rewrite = process.env['REWRITE'] === '1';

describe('raft transcripts', () => {
  for (const file of readdirSync(dataDir).filter((f) => f.endsWith('.txt')).sort()) {
    it(file, () => {
      const path = join(dataDir, file);
      const blocks = parseTranscript(readFileSync(path, 'utf8'));
      const runner = new TranscriptRunner();
      const results = blocks.map((b) => ({ comments: b.comments, command: b.command, output: runner.run(b.command) }));
      if (rewrite) {
        writeFileSync(path, formatTranscript(results));
        return;
      }
      for (let i = 0; i < blocks.length; i++) {
        const b = blocks[i];
        const r = results[i];
        if (b === undefined || r === undefined) continue;
        assert.equal(r.output, b.expected, `${file}: output of "${b.command}" differs (REWRITE=1 regenerates)`);
      }
    });
  }
});

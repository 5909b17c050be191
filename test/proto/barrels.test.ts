// proto/<package>.ts re-exports every generated file of its package (by hand, so that the
// public surface is reviewed): a message added to a .proto without its barrel line fails here.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { PROTO_DIR, PROTO_FILES } from '../../proto/index.js';

const GENERATED_DIR = join(PROTO_DIR, 'generated', 'flotilla');

describe('proto barrels', () => {
  it('the generated types exist (npm run build generates them)', () => {
    assert.ok(existsSync(GENERATED_DIR), `${GENERATED_DIR} is missing`);
  });

  for (const file of PROTO_FILES) {
    const pkg = file.replace(/\.proto$/, '');
    it(`proto/${pkg}.ts re-exports exactly the generated files of flotilla.${pkg}`, () => {
      const generated = readdirSync(join(GENERATED_DIR, pkg))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `./generated/flotilla/${pkg}/${f.replace(/\.ts$/, '.js')}`)
        .sort();
      const barrel = readFileSync(join(PROTO_DIR, `${pkg}.ts`), 'utf8');
      const exported = [...barrel.matchAll(/^export \* from '([^']+)';$/gm)]
        .map((m) => m[1] ?? '')
        .sort();
      assert.deepEqual(exported, generated);
    });
  }
});

// DESIGN.md §2: who may import whom, checked over the real source tree and over planted violations.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkImports, importsOf, FOLDERS, type SourceFile } from './import-rules.js';

function repoRoot(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'common'))) return dir;
    dir = join(dir, '..');
  }
  throw new Error('repository root not found');
}

function sources(root: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name === 'node_modules' || name === 'generated' || name === 'dist') continue;
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push({ path: relative(root, path).split(sep).join('/'), source: readFileSync(path, 'utf8') });
    }
  };
  for (const f of FOLDERS) if (existsSync(join(root, f))) walk(join(root, f));
  return out;
}

describe('import rules (DESIGN.md §2)', () => {
  it('the source tree follows them', () => {
    const root = repoRoot();
    const files = sources(root);
    assert.ok(files.length > 10, 'found the sources');
    assert.deepEqual(checkImports(files), []);
  });

  it('every top-level folder has an index.ts', () => {
    const root = repoRoot();
    for (const f of FOLDERS) if (f !== 'test') assert.ok(existsSync(join(root, f, 'index.ts')), `${f}/index.ts`);
  });

  it('catches planted violations', () => {
    const planted: SourceFile[] = [
      { path: 'raft/raw-node.ts', source: "import { Store } from '../store/index.js';" },
      { path: 'txn/prewrite.ts', source: "import * as grpc from '@grpc/grpc-js';" },
      { path: 'txn/reader.ts', source: "import { readFile } from 'node:fs/promises';" },
      { path: 'raft/log.ts', source: "import { createLogger } from '../common/index.js';" },
      { path: 'client/pd.ts', source: "export { x } from '../store/index.js';" },
      { path: 'store/peer.ts', source: "const m = await import('../placement-driver/index.js');" },
      { path: 'cli/main.ts', source: "import { encodeKey } from '../common/key-codec.js';" },
      { path: 'common/x.ts', source: "import type { Raft } from '../raft/index.js';" },
    ];
    const found = checkImports(planted).map((v) => v.path);
    assert.deepEqual(found, planted.map((p) => p.path));
  });

  it('allows what the rules allow', () => {
    const fine: SourceFile[] = [
      { path: 'raft/raw-node.ts', source: "import assert from 'node:assert';\nimport { invariant } from '../common/pure.js';\nimport { Progress } from './progress.js';" },
      { path: 'store/peer.ts', source: "import { RawNode } from '../raft/index.js';\nimport { prewrite } from '../txn/index.js';\nimport * as grpc from '@grpc/grpc-js';" },
      { path: 'test/raft/x.test.ts', source: "import { Raft } from '../../raft/raft.js';" },
      { path: 'raft/doc.ts', source: "// import { x } from '../store/index.js';\n/* import '../client/index.js' */" },
    ];
    assert.deepEqual(checkImports(fine), []);
    assert.deepEqual(importsOf("import a, { b } from './a.js';\nexport * from './b.js';\nimport './c.js';"), ['./a.js', './c.js', './b.js']);
  });
});

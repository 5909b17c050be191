// The import rules of DESIGN.md §2 as data, and a checker over source text. Used by
// import-rules.test.ts on the real tree and on planted violations (so the checker itself is tested).

import { posix } from 'node:path';

export const FOLDERS = ['proto', 'common', 'raft', 'txn', 'raft-host', 'store', 'placement-driver', 'client', 'cli', 'bench', 'deploy', 'test'] as const;
export type Folder = (typeof FOLDERS)[number];

/**
 * Who may import whom (DESIGN.md §2). bench/ also imports raft, txn and store: issues F2 and F3
 * put their micro-benchmarks there (an issue wins over the design page; see README.md).
 */
export const ALLOWED: Readonly<Record<Folder, readonly Folder[]>> = {
  proto: [],
  common: ['proto'],
  raft: ['common'],
  txn: ['common'],
  'raft-host': ['raft', 'common', 'proto'],
  store: ['raft-host', 'raft', 'txn', 'common', 'proto'],
  'placement-driver': ['raft-host', 'raft', 'common', 'proto'],
  client: ['common', 'proto'],
  cli: ['client', 'common', 'deploy'],
  bench: ['client', 'common', 'deploy', 'raft', 'txn', 'store'],
  deploy: ['common'],
  test: [...FOLDERS],
};

/** Folders that must stay pure: no packages, no node: modules but node:assert, common only via pure.js. */
export const PURE_FOLDERS: readonly Folder[] = ['raft', 'txn'];

export interface SourceFile {
  /** Repository-relative POSIX path, e.g. `raft/raw-node.ts`. */
  readonly path: string;
  readonly source: string;
}

export interface Violation {
  readonly path: string;
  readonly specifier: string;
  readonly rule: string;
}

const IMPORT_PATTERNS = [
  /(?:^|[\s;])import\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g,
  /(?:^|[\s;])export\s+(?:type\s+)?(?:\*|\{[^}]*\})(?:\s+as\s+\w+)?\s+from\s+['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
];

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

export function importsOf(source: string): string[] {
  const text = stripComments(source);
  const found: string[] = [];
  for (const pattern of IMPORT_PATTERNS) {
    for (const m of text.matchAll(pattern)) found.push(m[1]!);
  }
  return found;
}

function folderOf(path: string): Folder | null {
  const top = path.split('/')[0]!;
  return (FOLDERS as readonly string[]).includes(top) ? (top as Folder) : null;
}

/** The entry points other folders may use: `<folder>/index.ts`, and common's `pure.ts`. */
function isPublicEntry(target: string, folder: Folder): boolean {
  const rest = target.slice(folder.length + 1).replace(/\.(js|ts)$/, '');
  return rest === 'index' || (folder === 'common' && rest === 'pure');
}

export function checkImports(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const from = folderOf(file.path);
    if (from === null) continue;
    for (const specifier of importsOf(file.source)) {
      const report = (rule: string): void => {
        violations.push({ path: file.path, specifier, rule });
      };
      if (specifier.startsWith('.')) {
        const target = posix.normalize(posix.join(posix.dirname(file.path), specifier));
        const to = folderOf(target);
        if (to === null) {
          report('imports outside the source folders');
          continue;
        }
        if (to === from) continue;
        if (!ALLOWED[from].includes(to)) {
          report(`${from}/ may not import ${to}/ (DESIGN.md §2)`);
          continue;
        }
        if (from !== 'test' && !isPublicEntry(target, to)) report(`${from}/ imports a deep path of ${to}/; use ${to}/index.ts`);
        if (PURE_FOLDERS.includes(from) && to === 'common' && !target.replace(/\.(js|ts)$/, '').endsWith('common/pure')) {
          report(`${from}/ must import common only through common/pure.js`);
        }
        continue;
      }
      if (PURE_FOLDERS.includes(from)) {
        if (specifier !== 'node:assert' && specifier !== 'node:assert/strict') report(`${from}/ is pure: no packages or node modules but node:assert`);
      }
    }
  }
  return violations;
}

// The restore journal: which data files of which backup have been fully written into which
// target cluster, so that a rerun after an interruption skips them. It is an optimization only:
// a file is listed after every one of its batches was acknowledged, restore writes idempotently,
// and a journal that is absent, unreadable or about another backup is ignored (everything is
// written again). Kept as restore-progress.json in the backup directory by default:
//
//   { "format": "flotilla-restore-progress", "targets": { "<target cluster id>":
//       { "manifestSha256": "<hex>", "finishedFiles": ["txn-000001.fbk", …] } } }

import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { writeFileAtomic } from './manifest.js';

export const RESTORE_PROGRESS_FILE = 'restore-progress.json';
const JOURNAL_FORMAT = 'flotilla-restore-progress';

interface TargetEntry {
  manifestSha256: string;
  finishedFiles: string[];
}

interface JournalJson {
  format: typeof JOURNAL_FORMAT;
  targets: Record<string, TargetEntry>;
}

export class RestoreJournal {
  private constructor(
    private readonly path: string,
    private readonly json: JournalJson,
    private readonly entry: TargetEntry,
  ) {}

  /** The journal at `path` for (target cluster, backup manifest); a fresh one when absent or unusable. */
  static async load(path: string, targetClusterId: bigint, manifestSha256: string): Promise<RestoreJournal> {
    const json = await readJournal(path);
    const key = targetClusterId.toString();
    const old = json.targets[key];
    const entry = old !== undefined && old.manifestSha256 === manifestSha256 ? old : { manifestSha256, finishedFiles: [] };
    json.targets[key] = entry;
    return new RestoreJournal(path, json, entry);
  }

  isFinished(file: string): boolean {
    return this.entry.finishedFiles.includes(file);
  }

  /** Records `file` as fully written (atomically and durably). */
  async markFinished(file: string): Promise<void> {
    if (this.isFinished(file)) return;
    this.entry.finishedFiles.push(file);
    await writeFileAtomic(dirname(this.path), basename(this.path), `${JSON.stringify(this.json, null, 2)}\n`);
  }
}

/** A journal that does not parse is ignored: it only ever lets a rerun skip work. */
async function readJournal(path: string): Promise<JournalJson> {
  const empty: JournalJson = { format: JOURNAL_FORMAT, targets: {} };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty;
    throw err;
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json !== 'object' || json === null || (json as { format?: unknown }).format !== JOURNAL_FORMAT) return empty;
    const targets = (json as { targets?: unknown }).targets;
    if (typeof targets !== 'object' || targets === null) return empty;
    const out: Record<string, TargetEntry> = {};
    for (const [k, v] of Object.entries(targets as Record<string, unknown>)) {
      const e = v as Partial<TargetEntry> | null;
      if (e !== null && typeof e.manifestSha256 === 'string' && Array.isArray(e.finishedFiles) && e.finishedFiles.every((f) => typeof f === 'string')) {
        out[k] = { manifestSha256: e.manifestSha256, finishedFiles: [...e.finishedFiles] };
      }
    }
    return { format: JOURNAL_FORMAT, targets: out };
  } catch {
    return empty; // unparsable: ignored, see above
  }
}

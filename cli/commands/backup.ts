import { Args, Flags } from '@oclif/core';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { formatSize } from '../output.js';
import { progressBar } from '../progress-bar.js';
import { parseTs } from './tso.js';

const progressFlag = { progress: Flags.boolean({ description: 'draw a progress bar on stderr (when it is a terminal)', default: true, allowNo: true }) };

/** Ctrl-C during a long command: stop at the next batch, leave a state a rerun can finish. */
function abortOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (name: string) => () => controller.abort(new Error(`interrupted by ${name}`));
  const int = onSignal('SIGINT');
  const term = onSignal('SIGTERM');
  process.once('SIGINT', int);
  process.once('SIGTERM', term);
  return { signal: controller.signal, dispose: () => { process.off('SIGINT', int); process.off('SIGTERM', term); } };
}

export class Backup extends FlotillaCommand {
  static override summary = 'Back up all data into a directory: transactional keys consistent at one timestamp, raw keys best-effort';
  static override description = `Writes data files with SHA-256 checksums, then manifest.json last (a directory without it is an
unfinished backup). Refuses a directory that already holds a backup unless --overwrite. Fails rather than
produce a wrong backup if GC passes the backup's timestamp while it runs. See cli/backup/README.md.`;
  static override examples = [
    '<%= config.bin %> backup ./backup-2026-11-30',
    '<%= config.bin %> backup /mnt/backups/today --overwrite --json',
  ];
  static override args = { dir: Args.string({ description: 'the directory to write (created if absent)', required: true }) };
  static override flags = {
    ...jsonFlag, ...progressFlag,
    overwrite: Flags.boolean({ description: 'replace a finished backup in the directory', default: false }),
    ts: Flags.string({ description: 'back up the transactional keys as of this timestamp (default: now)' }),
    'chunk-mib': Flags.integer({ description: 'target size of one data file, MiB', default: 32, min: 1, max: 1024 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Backup);
    const ts = flags.ts === undefined ? undefined : parseTs(flags.ts);
    const { backupCluster } = await import('../backup/index.js');
    const client = await this.client(flags);
    const admin = await this.admin(flags);
    const bar = progressBar('backup ', flags.progress);
    const abort = abortOnSignals();
    try {
      const manifest = await backupCluster(client, args.dir, {
        pd: admin.pd, overwrite: flags.overwrite, chunkBytes: flags['chunk-mib'] * 1024 * 1024, onProgress: (p) => bar.update(p), signal: abort.signal,
        ...(ts === undefined ? {} : { ts }),
      });
      bar.stop();
      if (flags.json) return this.printJson(manifest);
      this.log(`backed up ${manifest.totals.txnKeys} transactional and ${manifest.totals.rawKeys} raw keys (${formatSize(manifest.totals.dataBytes)}) at ts ${manifest.backupTs} into ${args.dir} (${manifest.files.length} data files)`);
    } finally {
      bar.stop();
      abort.dispose();
    }
  }
}

export class Restore extends FlotillaCommand {
  static override summary = 'Restore a backup into the cluster (meant for an empty one); an interrupted restore can be run again';
  static override description = `Checks every file (presence, size, SHA-256, structure) before writing anything, then writes the
transactional keys in bounded transactions and the raw keys in batches. Running it again after an
interruption finishes the job: files already restored into this cluster are skipped (restore-progress.json),
and writing a value twice is harmless. Restored keys get new commit timestamps.`;
  static override examples = ['<%= config.bin %> restore ./backup-2026-11-30', '<%= config.bin %> restore ./backup --concurrency 8 --json'];
  static override args = { dir: Args.string({ description: 'a directory written by `flotilla backup`', required: true }) };
  static override flags = {
    ...jsonFlag, ...progressFlag,
    concurrency: Flags.integer({ description: 'transactions or raw batches in flight', default: 4, min: 1, max: 64 }),
    'txn-keys': Flags.integer({ description: 'keys per restore transaction', default: 1000, min: 1, max: 1000 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Restore);
    const { restoreCluster } = await import('../backup/index.js');
    const client = await this.client(flags);
    const admin = await this.admin(flags);
    const bar = progressBar('restore', flags.progress);
    const abort = abortOnSignals();
    try {
      const summary = await restoreCluster(client, args.dir, {
        targetClusterId: admin.pd.clusterId, concurrency: flags.concurrency, txnKeys: flags['txn-keys'], onProgress: (p) => bar.update(p), signal: abort.signal,
      });
      bar.stop();
      if (flags.json) return this.printJson(summary);
      this.log(`restored ${summary.txnKeysWritten} transactional and ${summary.rawKeysWritten} raw keys from the backup at ts ${summary.backupTs} (${summary.files} files${summary.filesSkipped > 0 ? `, ${summary.filesSkipped} already restored` : ''})`);
    } finally {
      bar.stop();
      abort.dispose();
    }
  }
}

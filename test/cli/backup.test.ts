// Backup and restore (issue F8) against real clusters: a source and a target, each 1 PD + 3 stores
// as processes. The source gets 10,000 transactional keys (binary keys, empty values, values past
// the file writer's staging buffer, keys overwritten and keys deleted after being written) and
// raw keys; a reference model (sorted maps) says what must come back. Then:
//   - the backup holds exactly the model, file by file; a second backup into the dir is refused;
//     a GC safe point that passes the ts during the scan leaves no manifest;
//   - a backup taken while bank transfers run holds the bank's constant total;
//   - restores of a corrupted, truncated, incomplete or future-version backup are refused before
//     anything is written (the target stays empty); a file changed between the check and its use
//     is refused too, and nothing of it is written;
//   - a restore aborted part-way, then run in another process that is killed (SIGKILL) part-way,
//     then run again, leaves the target equal to the model byte for byte, with no extra key;
//     after each interruption every file the journal lists is in the target, and the rerun
//     skipped exactly those files;
//   - the journal of one backup does not make another backup's restore skip files.
// Tests run in order and share the clusters (the target's state carries from one to the next).
//
// Replay: FLOTILLA_BACKUP_SEED=<seed> node --test dist/test/cli/backup.test.js
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  backupCluster, BackupCorruptionError, BackupExistsError, BackupTsTooOldError, MANIFEST_FILE, readCheckedFile, readManifest, recordsOf, restoreCluster,
  UnsupportedBackupVersionError, type BackupPhase, type Manifest, type Progress, type RestorePhase,
} from '../../cli/backup/index.js';
import { type Client, PdClient } from '../../client/index.js';
import { createRng, type Rng } from '../../common/index.js';
import { ClientTestEnv, collect, seedFrom, settleWithin, show } from '../support/client-cluster.js';

const SEED = seedFrom('FLOTILLA_BACKUP_SEED');
const REPLAY = `seed ${SEED}; replay: FLOTILLA_BACKUP_SEED=${SEED} node --test dist/test/cli/backup.test.js`;
const SCRATCH = join('/tmp/backup', `run-${process.pid}-${SEED}`);
const TXN_KEYS = 10_000;
const RAW_KEYS = 600;
/** Small files, so that the backup spans dozens of them and file boundaries fall everywhere. */
const CHUNK_BYTES = 256 * 1024;
const BANK_ACCOUNTS = 32;
const BANK_BALANCE = 100;
const FULL_DIR = join(SCRATCH, 'full');
const BANK_DIR = join(SCRATCH, 'bank');
/** Child processes started by the tests, killed in after() if still running. */
const children: ChildProcess[] = [];

type Model = Map<string, Buffer>; // keyed by hex of the key

const hex = (b: Buffer): string => b.toString('hex');

/** A value of a size drawn from a spread: empty, small, medium, large. */
function valueOf(rng: Rng): Buffer {
  const p = rng.nextFloat();
  const size = p < 0.1 ? 0 : p < 0.7 ? rng.nextInt(100) : p < 0.95 ? rng.nextRange(100, 2_000) : rng.nextRange(2_000, 20_000);
  const v = Buffer.alloc(size);
  for (let i = 0; i < size; i++) v[i] = rng.nextInt(256);
  return v;
}

/** Keys of several shapes: text, binary with 0x00 / 0xff, long. */
function keyOf(rng: Rng, i: number): Buffer {
  const shape = i % 10;
  if (shape < 2) {
    const k = Buffer.alloc(rng.nextRange(1, 20));
    for (let j = 0; j < k.length; j++) k[j] = rng.chance(0.3) ? (rng.chance(0.5) ? 0x00 : 0xff) : rng.nextInt(256);
    return k;
  }
  if (shape === 2 && rng.chance(0.05)) return Buffer.from(`long/${i}/${'x'.repeat(rng.nextRange(500, 2_000))}`);
  return Buffer.from(`k/${String(i).padStart(6, '0')}`);
}

/** Writes the model's pairs through transactions of `perTxn` keys, `parallel` at a time. */
async function putAll(client: Client, pairs: readonly [Buffer, Buffer | null][], perTxn: number, parallel: number): Promise<void> {
  const batches: [Buffer, Buffer | null][][] = [];
  for (let i = 0; i < pairs.length; i += perTxn) batches.push(pairs.slice(i, i + perTxn));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      await client.withTransaction(async (txn) => {
        for (const [k, v] of batch) {
          if (v === null) txn.delete(k);
          else txn.put(k, v);
        }
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** The sorted pairs of a model. */
function sorted(model: Model): [Buffer, Buffer][] {
  return [...model.entries()].map(([k, v]): [Buffer, Buffer] => [Buffer.from(k, 'hex'), v]).sort((a, b) => Buffer.compare(a[0], b[0]));
}

/** `actual` equals the model exactly: same keys in order, every value byte for byte, nothing extra. */
function assertEqualsModel(actual: readonly { key: Buffer; value: Buffer }[], model: Model, what: string): void {
  const want = sorted(model);
  for (let i = 0; i < Math.max(actual.length, want.length); i++) {
    const a = actual[i];
    const w = want[i];
    if (a === undefined) assert.fail(`${what}: missing ${show(w![0])} and ${want.length - i - 1} more (${actual.length} of ${want.length} keys)`);
    if (w === undefined) assert.fail(`${what}: extra key ${show(a.key)} (${actual.length} keys, want ${want.length})`);
    if (!a.key.equals(w[0])) assert.fail(`${what}: key #${i} is ${show(a.key)}, want ${show(w[0])}`);
    if (!a.value.equals(w[1])) assert.fail(`${what}: value of ${show(a.key)} is ${show(a.value)}, want ${show(w[1])}`);
  }
}

async function txnContents(client: Client): Promise<{ key: Buffer; value: Buffer }[]> {
  return collect((await client.snapshot()).scan('', null));
}

async function rawContents(client: Client): Promise<{ key: Buffer; value: Buffer }[]> {
  return collect(client.raw.scan('', null));
}

/** Every record of a backup's files of one key space, via the restore's own checks. */
async function backupContents(dir: string, manifest: Manifest, keySpace: 'txn' | 'raw'): Promise<{ key: Buffer; value: Buffer }[]> {
  const out: { key: Buffer; value: Buffer }[] = [];
  for (const f of manifest.files.filter((x) => x.keySpace === keySpace)) {
    const bytes = await readCheckedFile(dir, f);
    for (const r of recordsOf(bytes, f.name)) out.push(r);
  }
  return out;
}

/** Progress reports are well-formed: counts never go back within a phase, and within totals. */
function assertProgressSane<P extends string>(reports: readonly Progress<P>[], what: string): void {
  assert.ok(reports.length > 0, `${what}: no progress report`);
  for (let i = 1; i < reports.length; i++) {
    const [a, b] = [reports[i - 1]!, reports[i]!];
    if (a.phase === b.phase) assert.ok(b.doneKeys >= a.doneKeys && b.doneBytes >= a.doneBytes, `${what}: progress went back in ${b.phase}`);
    if (b.totalKeys !== undefined) assert.ok(b.doneKeys <= b.totalKeys, `${what}: ${b.doneKeys} done of ${b.totalKeys}`);
  }
}

/** The files the journal lists as restored into the cluster `clusterKey`. */
async function finishedFiles(journalPath: string, clusterKey: string): Promise<string[]> {
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { targets: Record<string, { finishedFiles: string[] }> };
  return journal.targets[clusterKey]?.finishedFiles ?? [];
}

/**
 * Runs restoreCluster in a child process and kills it (SIGKILL) once its progress passes
 * `killAtKeys`; resolves with the keys it had reported done, after the process has exited.
 */
async function restoreKilledPartWay(pdEndpoints: readonly string[], journalPath: string, clusterId: bigint, killAtKeys: number): Promise<number> {
  const code = `
    import { restoreCluster } from ${JSON.stringify(new URL('../../cli/backup/index.js', import.meta.url).href)};
    import { Client } from ${JSON.stringify(new URL('../../client/index.js', import.meta.url).href)};
    const client = await Client.connect({ pdEndpoints: ${JSON.stringify(pdEndpoints)} });
    await restoreCluster(client, ${JSON.stringify(FULL_DIR)}, { targetClusterId: ${clusterId}n, journalPath: ${JSON.stringify(journalPath)}, txnKeys: 20, concurrency: 2,
      onProgress: (p) => { if (p.phase === 'restore') process.stdout.write(p.doneKeys + '\\n'); } });
    process.stdout.write('finished\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<string>((resolve) => child.on('exit', (status, signal) => resolve(signal ?? `status ${status}`)));
  const killedAt = new Promise<number>((resolve, reject) => {
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line === 'finished') reject(new Error('the child restore finished before it was killed'));
        else if (Number(line) >= killAtKeys) {
          child.kill('SIGKILL');
          resolve(Number(line));
        }
      }
    });
    void exited.then((how) => reject(new Error(`the child restore ended (${how}) before it was killed: ${stderr}`)));
  });
  const done = await settleWithin(killedAt, 120_000, 'the child restore');
  assert.equal(await exited, 'SIGKILL');
  return done;
}

async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe('backup and restore (two clusters of 1 PD + 3 stores)', { timeout: 10 * 60_000 }, () => {
  let source: ClientTestEnv | undefined;
  let target: ClientTestEnv | undefined;
  const pds: PdClient[] = [];
  let sourcePd: PdClient;
  let targetPd: PdClient;
  const txnModel: Model = new Map();
  const rawModel: Model = new Map();
  const fullDir = FULL_DIR;
  const bankDir = BANK_DIR;
  let manifest: Manifest;

  before(async () => {
    await rm(SCRATCH, { recursive: true, force: true });
    await mkdir(SCRATCH, { recursive: true });
    source = await ClientTestEnv.start({ clients: 2 });
    target = await ClientTestEnv.start({ clients: 1 });
    sourcePd = await PdClient.connect({ pdEndpoints: source.cluster.pdEndpoints });
    pds.push(sourcePd);
    targetPd = await PdClient.connect({ pdEndpoints: target.cluster.pdEndpoints });
    pds.push(targetPd);
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const pd of pds) pd.close();
    await source?.stop();
    await target?.stop();
    await rm(SCRATCH, { recursive: true, force: true });
  });

  /** Every pair of the listed backup files is in the target with its value (the journal lists only finished files). */
  async function assertFilesRestored(client: Client, names: readonly string[], what: string): Promise<void> {
    const snapshot = await client.snapshot();
    for (const name of names) {
      const file = manifest.files.find((f) => f.name === name);
      assert.ok(file !== undefined, `${what}: the journal lists ${name}, not in the manifest`);
      const pairs = [...recordsOf(await readCheckedFile(fullDir, file), name)];
      const values = file.keySpace === 'txn' ? await snapshot.batchGet(pairs.map((p) => p.key)) : await client.raw.batchGet(pairs.map((p) => p.key));
      pairs.forEach((p, i) => {
        const v = values[i];
        assert.ok(v !== null && v !== undefined && v.equals(p.value), `${what}: the journal lists ${name} as restored, but ${show(p.key)} is ${show(v)}, want ${show(p.value)}`);
      });
    }
  }

  it(`a backup holds exactly the transactional keys at its ts and the raw keys (${REPLAY})`, async () => {
    const client = source!.client(0);
    const rng = createRng(SEED);
    // 10,000 distinct keys; a few values larger than the writer's 1 MiB staging buffer.
    const writes: [Buffer, Buffer | null][] = [];
    for (let i = 0; txnModel.size < TXN_KEYS; i++) {
      const key = keyOf(rng, i);
      if (txnModel.has(hex(key))) continue;
      const value = i % 2_500 === 7 ? Buffer.alloc(rng.nextRange(1_100_000, 1_500_000), i % 251) : valueOf(rng);
      txnModel.set(hex(key), value);
      writes.push([key, value]);
    }
    await putAll(client, writes, 400, 4);
    // Then overwrite some and delete some: the backup must hold the newest values and no deleted key.
    const later: [Buffer, Buffer | null][] = [];
    for (const [k] of writes) {
      const draw = rng.nextFloat();
      if (draw < 0.05) {
        later.push([k, null]);
        txnModel.delete(hex(k));
      } else if (draw < 0.1) {
        const v = valueOf(rng);
        later.push([k, v]);
        txnModel.set(hex(k), v);
      }
    }
    await putAll(client, later, 400, 4);
    // Raw keys: their own key space (some share a name with transactional keys), empty values, deletes.
    const rawPairs: [Buffer, Buffer][] = [];
    for (let i = 0; i < RAW_KEYS; i++) {
      const key = i % 3 === 0 ? writes[i]![0] : keyOf(rng, i);
      const value = Buffer.concat([Buffer.from('raw:'), valueOf(rng)]).subarray(0, i % 7 === 0 ? 0 : undefined);
      rawPairs.push([key, value]);
      rawModel.set(hex(key), value);
    }
    await client.raw.batchPut(rawPairs);
    for (const [k] of rawPairs.filter((_, i) => i % 11 === 0)) {
      await client.raw.delete(k);
      rawModel.delete(hex(k));
    }
    const deleted = later.filter(([, v]) => v === null).length;
    assert.ok(deleted > 100, `only ${deleted} deletes`);

    const reports: Progress<BackupPhase>[] = [];
    const startedMs = Date.now();
    manifest = await backupCluster(client, fullDir, { chunkBytes: CHUNK_BYTES, pd: sourcePd, onProgress: (p) => reports.push(p) });
    const elapsedMs = Date.now() - startedMs;
    // A write after the backup's ts is not in it.
    await client.withTransaction(async (txn) => txn.put('written/after/backup', 'x'));

    assert.equal(manifest.clusterId, sourcePd.clusterId.toString());
    assert.ok(BigInt(manifest.backupTs) > 0n);
    assert.equal(manifest.totals.txnKeys, txnModel.size);
    assert.equal(manifest.totals.rawKeys, rawModel.size);
    assert.ok(manifest.files.length > 10, `${manifest.files.length} files: too few to cross file boundaries`);
    assert.ok(/best-effort/.test(manifest.rawConsistency));
    assertEqualsModel(await backupContents(fullDir, manifest, 'txn'), txnModel, 'backup txn files');
    assertEqualsModel(await backupContents(fullDir, manifest, 'raw'), rawModel, 'backup raw files');
    assert.deepEqual(await listDir(fullDir), [MANIFEST_FILE, ...manifest.files.map((f) => f.name)].sort(), 'the directory holds the manifest and its files only');

    assertProgressSane(reports, 'backup');
    const last = reports[reports.length - 1]!;
    assert.equal(last.phase, 'done');
    assert.equal(last.doneKeys, txnModel.size + rawModel.size);
    assert.ok(reports.length <= elapsedMs / 100 + 8, `${reports.length} progress reports in ${elapsedMs} ms: not throttled`);
  });

  it('a backup into a directory holding a manifest is refused; a GC safe point passing the ts leaves no manifest', async () => {
    const client = source!.client(0);
    await assert.rejects(backupCluster(client, fullDir, { chunkBytes: CHUNK_BYTES }), (err: unknown) => err instanceof BackupExistsError && err.code === 'InvalidArgument');
    const gcDir = join(SCRATCH, 'gc');
    let calls = 0;
    const ts = await client.currentTimestamp();
    // The safe point is below ts when the backup starts and passes it while the scan runs.
    const pd = { clusterId: 1n, getGcSafePoint: async () => (calls++ === 0 ? ts - 1n : ts + 1n) };
    await assert.rejects(backupCluster(client, gcDir, { chunkBytes: CHUNK_BYTES, ts, pd }), (err: unknown) => err instanceof BackupTsTooOldError);
    assert.equal(calls, 2);
    assert.ok(!(await listDir(gcDir)).includes(MANIFEST_FILE), 'a failed backup left a manifest');
    await assert.rejects(restoreCluster(target!.client(0), gcDir), (err: unknown) => err instanceof BackupCorruptionError && err.reason === 'noManifest');
  });

  it('a backup taken while transfers run holds the bank total', async () => {
    const client = source!.client(0);
    // Accounts spread over the key space, so that the scan reads them at different moments.
    const accountKey = (i: number): Buffer => Buffer.concat([Buffer.from([(i * 8) & 0xff]), Buffer.from(`bank/${i}`)]);
    await client.withTransaction(async (txn) => {
      for (let i = 0; i < BANK_ACCOUNTS; i++) txn.put(accountKey(i), String(BANK_BALANCE));
    });
    const rng = createRng(SEED + 1);
    let isBackupDone = false;
    let transfersDuringBackup = 0;
    const transfer = async (c: Client, r: Rng): Promise<void> => {
      while (!isBackupDone) {
        const from = r.nextInt(BANK_ACCOUNTS);
        const to = (from + 1 + r.nextInt(BANK_ACCOUNTS - 1)) % BANK_ACCOUNTS;
        await c.withTransaction(async (txn) => {
          const [a, b] = await txn.batchGet([accountKey(from), accountKey(to)]);
          const amount = Math.min(Number(a!.toString()), 1 + r.nextInt(20));
          txn.put(accountKey(from), String(Number(a!.toString()) - amount));
          txn.put(accountKey(to), String(Number(b!.toString()) + amount));
        }, { maxRetries: 50 });
        if (!isBackupDone) transfersDuringBackup++;
      }
    };
    const writers = [transfer(source!.client(1), rng.fork()), transfer(source!.client(1), rng.fork())];
    try {
      // A stale backup is there: overwrite replaces it, leftover data files included.
      await cp(fullDir, bankDir, { recursive: true });
      await writeFile(join(bankDir, 'txn-000999.fbk'), 'stale');
      const bankManifest = await backupCluster(client, bankDir, { chunkBytes: CHUNK_BYTES, overwrite: true });
      isBackupDone = true;
      await Promise.all(writers);
      assert.ok(transfersDuringBackup >= 3, `only ${transfersDuringBackup} transfers committed while the backup ran: the test proved nothing`);
      assert.deepEqual(await listDir(bankDir), [MANIFEST_FILE, ...bankManifest.files.map((f) => f.name)].sort());
      const balances = (await backupContents(bankDir, bankManifest, 'txn')).filter((p) => p.key.subarray(1).toString().startsWith('bank/'));
      assert.equal(balances.length, BANK_ACCOUNTS);
      const total = balances.reduce((n, p) => n + Number(p.value.toString()), 0);
      assert.equal(total, BANK_ACCOUNTS * BANK_BALANCE, `the backup's bank total is ${total} (${transfersDuringBackup} transfers ran during the backup)`);
    } finally {
      isBackupDone = true;
      await Promise.allSettled(writers);
    }
  });

  it('corrupted, truncated, incomplete and future-version backups are refused before anything is written', async () => {
    const client = target!.client(0);
    const lastFile = manifest.files[manifest.files.length - 1]!;
    const middleFile = manifest.files[Math.floor(manifest.files.length / 2)]!;
    const refuses = async (name: string, damage: (dir: string) => Promise<void>, check: (err: unknown) => boolean): Promise<void> => {
      const dir = join(SCRATCH, name);
      await cp(fullDir, dir, { recursive: true });
      await damage(dir);
      await assert.rejects(restoreCluster(client, dir, { targetClusterId: targetPd.clusterId }), (err: unknown) => {
        assert.ok(check(err), `${name}: ${String(err)}`);
        return true;
      });
    };
    // One flipped byte in the last file: refused although every file before it is fine.
    await refuses('flipped', async (dir) => {
      const path = join(dir, lastFile.name);
      const bytes = await readFile(path);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = bytes[at]! ^ 0x10;
      await writeFile(path, bytes);
    }, (err) => err instanceof BackupCorruptionError && err.reason === 'checksumMismatch' && err.file === lastFile.name && err.code === 'Corruption');
    await refuses('truncated', (dir) => truncate(join(dir, middleFile.name), middleFile.fileBytes - 3), (err) => err instanceof BackupCorruptionError && err.reason === 'truncated' && err.file === middleFile.name);
    await refuses('missing', (dir) => rm(join(dir, lastFile.name)), (err) => err instanceof BackupCorruptionError && err.reason === 'missingFile');
    await refuses('no-manifest', (dir) => rm(join(dir, MANIFEST_FILE)), (err) => err instanceof BackupCorruptionError && err.reason === 'noManifest');
    await refuses('future', async (dir) => {
      const json = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
      await writeFile(join(dir, MANIFEST_FILE), JSON.stringify({ ...json, formatVersion: 2 }));
    }, (err) => err instanceof UnsupportedBackupVersionError && err.code === 'InvalidArgument');
    assert.deepEqual(await txnContents(client), [], 'a refused restore wrote transactional keys');
    assert.deepEqual(await rawContents(client), [], 'a refused restore wrote raw keys');
  });

  it('a file changed after the first check is refused before any of its pairs is written', async () => {
    const client = target!.client(0);
    const dir = join(SCRATCH, 'changed');
    await cp(fullDir, dir, { recursive: true });
    const first = manifest.files[0]!;
    let isDamaged = false;
    await assert.rejects(
      restoreCluster(client, dir, {
        journalPath: null,
        onProgress: (p: Progress<RestorePhase>) => {
          // Synchronously, at the restore phase's first report: after every file passed the check,
          // before the first one is read again for writing.
          if (p.phase === 'restore' && !isDamaged) {
            isDamaged = true;
            const path = join(dir, first.name);
            const bytes = readFileSync(path);
            bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0x01;
            writeFileSync(path, bytes);
          }
        },
      }),
      (err: unknown) => err instanceof BackupCorruptionError && err.file === first.name && err.reason === 'checksumMismatch',
    );
    assert.ok(isDamaged, 'the restore phase never reported progress');
    assert.deepEqual(await txnContents(client), [], 'pairs of the changed file were written');
    assert.deepEqual(await rawContents(client), []);
  });

  it('a restore aborted part-way, then killed part-way in another process, then run again leaves every value right and no extra key', async () => {
    const client = target!.client(0);
    const journalPath = join(SCRATCH, 'restore-journal.json');
    const clusterKey = targetPd.clusterId.toString();
    const controller = new AbortController();
    const reports: Progress<RestorePhase>[] = [];
    const abortAtKeys = Math.floor(manifest.totals.txnKeys / 3);
    const [txnKeysMax, concurrency] = [20, 2];
    let doneAtAbort = 0;
    // Small transactions, few in flight: a file takes many batches, so the abort lands inside one.
    await assert.rejects(
      restoreCluster(client, fullDir, {
        signal: controller.signal,
        targetClusterId: targetPd.clusterId,
        journalPath,
        txnKeys: txnKeysMax,
        concurrency,
        onProgress: (p) => {
          reports.push(p);
          if (p.phase === 'restore' && p.doneKeys >= abortAtKeys && !controller.signal.aborted) {
            doneAtAbort = p.doneKeys;
            controller.abort();
          }
        },
      }),
      (err: unknown) => err instanceof Error && err.name === 'AbortError',
    );
    assertProgressSane(reports, 'aborted restore');
    const partial = await txnContents(client);
    // The abort is prompt: only the batches in flight when it came may land after it.
    assert.ok(partial.length >= doneAtAbort && partial.length <= doneAtAbort + concurrency * txnKeysMax, `the abort came at ${doneAtAbort} keys done; the target holds ${partial.length} of ${txnModel.size}`);
    const afterAbort = await finishedFiles(journalPath, clusterKey);
    assert.ok(afterAbort.length > 0 && afterAbort.length < manifest.files.length, `the journal lists ${afterAbort.length} of ${manifest.files.length} files`);
    await assertFilesRestored(client, afterAbort, 'after the abort');

    // Another process runs the same restore and is killed (SIGKILL) part-way: transactions it
    // had in flight leave locks behind, which the rerun's transactions must resolve.
    const killedAtKeys = await restoreKilledPartWay(target!.cluster.pdEndpoints, journalPath, targetPd.clusterId, Math.floor((manifest.totals.txnKeys * 2) / 3));
    assert.ok(killedAtKeys < manifest.totals.txnKeys + manifest.totals.rawKeys);
    const afterKill = await finishedFiles(journalPath, clusterKey);
    assert.ok(afterKill.length >= afterAbort.length && afterKill.length < manifest.files.length, `the journal lists ${afterKill.length} of ${manifest.files.length} files after the kill`);
    await assertFilesRestored(client, afterKill, 'after the kill');

    const rerun: Progress<RestorePhase>[] = [];
    const summary = await restoreCluster(client, fullDir, { targetClusterId: targetPd.clusterId, journalPath, onProgress: (p) => rerun.push(p) });
    assert.equal(summary.filesSkipped, afterKill.length);
    assert.equal(summary.backupTs, BigInt(manifest.backupTs));
    assertProgressSane(rerun, 'rerun');
    assert.deepEqual(rerun.at(-1), { phase: 'done', doneKeys: txnModel.size + rawModel.size, totalKeys: txnModel.size + rawModel.size, doneBytes: manifest.totals.dataBytes, totalBytes: manifest.totals.dataBytes });
    assertEqualsModel(await txnContents(client), txnModel, 'restored txn keys');
    assertEqualsModel(await rawContents(client), rawModel, 'restored raw keys');
  });

  it('the journal of one backup does not make another backup skip files in the same cluster', async () => {
    const client = target!.client(0);
    const journalPath = join(SCRATCH, 'restore-journal.json');
    // The bank backup has files of the same names as the full one, some with other contents.
    const bankManifest = (await readManifest(bankDir)).manifest;
    const summary = await restoreCluster(client, bankDir, { targetClusterId: targetPd.clusterId, journalPath });
    assert.equal(summary.filesSkipped, 0);
    const want: Model = new Map((await backupContents(bankDir, bankManifest, 'txn')).map((p) => [hex(p.key), p.value]));
    assertEqualsModel(await txnContents(client), want, 'txn keys after restoring the bank backup over the full one');
  });
});

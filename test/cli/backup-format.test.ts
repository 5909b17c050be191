// The pure parts of backup/restore (issue F8): the data file format (round trip of generated
// records, every truncation and every flipped byte refused with a typed error), the streaming
// file writer against the in-memory encoder, the manifest gateway, restore's batching and the
// progress throttle. fast-check prints its seed on failure; replay with
// FLOTILLA_BACKUP_SEED=<seed> node --test dist/test/cli/backup-format.test.js
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  BACKUP_FORMAT_VERSION, BackupCorruptionError, checkDataFile, encodeDataFile, parseManifest, recordsOf, UnsupportedBackupVersionError, type KvRecord, type Manifest,
} from '../../cli/backup/index.js';
import { DataFileWriter } from '../../cli/backup/data-file-writer.js';
import { DATA_HEADER_BYTES, END_RECORD_BYTES } from '../../cli/backup/format.js';
import { PROGRESS_INTERVAL_MS } from '../../cli/backup/limits.js';
import { totalsOf } from '../../cli/backup/manifest.js';
import { ProgressMeter, type Progress } from '../../cli/backup/progress.js';
import { batchesOf } from '../../cli/backup/restore.js';
import { seedFrom } from '../support/client-cluster.js';

const SEED = seedFrom('FLOTILLA_BACKUP_SEED');
const FC = { seed: SEED, numRuns: 200 };

/** Sorted, distinct, non-empty keys (binary, 0x00 and 0xff included) with values of any small size, empty included. */
const recordsArb = fc
  .uniqueArray(fc.uint8Array({ minLength: 1, maxLength: 24 }), { maxLength: 60, selector: (k) => Buffer.from(k).toString('hex') })
  .chain((keys) => fc.tuple(fc.constant(keys), fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: keys.length, maxLength: keys.length })))
  .map(([keys, values]): KvRecord[] =>
    keys
      .map((k, i) => ({ key: Buffer.from(k), value: Buffer.from(values[i]!) }))
      .sort((a, b) => Buffer.compare(a.key, b.key)),
  );

function sampleFile(): { bytes: Buffer; records: KvRecord[] } {
  const records: KvRecord[] = [
    { key: Buffer.from([0]), value: Buffer.alloc(0) },
    { key: Buffer.from('a'), value: Buffer.from('1') },
    { key: Buffer.from([0x61, 0xff, 0x00]), value: Buffer.from([0xde, 0xad]) },
    { key: Buffer.from('b/long'), value: Buffer.alloc(40, 7) },
  ];
  return { bytes: encodeDataFile('txn', records), records };
}

function assertRefused(fn: () => unknown, what: string): BackupCorruptionError | UnsupportedBackupVersionError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BackupCorruptionError || err instanceof UnsupportedBackupVersionError, `${what}: ${String(err)}`);
    return err;
  }
  assert.fail(`${what}: accepted`);
}

describe('backup data file format', () => {
  it(`any sorted records round-trip through encode, check and recordsOf (property, seed ${SEED})`, () => {
    fc.assert(
      fc.property(recordsArb, fc.constantFrom('txn' as const, 'raw' as const), (records, keySpace) => {
        const bytes = encodeDataFile(keySpace, records);
        const summary = checkDataFile(bytes, 'f');
        assert.equal(summary.keySpace, keySpace);
        assert.equal(summary.keys, records.length);
        assert.equal(summary.dataBytes, records.reduce((n, r) => n + r.key.length + r.value.length, 0));
        const back = [...recordsOf(bytes, 'f')];
        assert.equal(back.length, records.length);
        back.forEach((r, i) => {
          assert.ok(r.key.equals(records[i]!.key), `key ${i}`);
          assert.ok(r.value.equals(records[i]!.value), `value ${i}`);
        });
      }),
      FC,
    );
  });

  it('a file cut at every byte offset is refused as truncated', () => {
    const { bytes } = sampleFile();
    for (let length = 0; length < bytes.length; length++) {
      const err = assertRefused(() => checkDataFile(bytes.subarray(0, length), 'f'), `cut at ${length}`);
      assert.ok(err instanceof BackupCorruptionError && err.reason === 'truncated', `cut at ${length}: ${err.message}`);
      assert.equal(err.code, 'Corruption');
    }
  });

  it('a file with any one byte flipped is refused with a typed error', () => {
    const { bytes } = sampleFile();
    for (let at = 0; at < bytes.length; at++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = Buffer.from(bytes);
        bad[at] = bad[at]! ^ mask;
        assertRefused(() => checkDataFile(bad, 'f'), `byte ${at} ^ 0x${mask.toString(16)}`);
      }
    }
  });

  it('an unknown version, bytes after the end record, and keys out of order are refused', () => {
    const { bytes, records } = sampleFile();
    const v2 = Buffer.from(bytes);
    v2.writeUInt16BE(BACKUP_FORMAT_VERSION + 1, 8);
    assert.ok(assertRefused(() => checkDataFile(v2, 'f'), 'v2') instanceof UnsupportedBackupVersionError);
    const tail = Buffer.concat([bytes, Buffer.from([0])]);
    const errTail = assertRefused(() => checkDataFile(tail, 'f'), 'tail');
    assert.ok(errTail instanceof BackupCorruptionError && errTail.reason === 'malformed' && /after the end record/.test(errTail.message), errTail.message);
    const swapped = encodeDataFile('raw', [records[1]!, records[0]!]);
    const errOrder = assertRefused(() => checkDataFile(swapped, 'f'), 'order');
    assert.ok(/ascending/.test(errOrder.message), errOrder.message);
    const dup = encodeDataFile('raw', [records[1]!, records[1]!]);
    assertRefused(() => checkDataFile(dup, 'f'), 'duplicate key');
  });

  it('an empty file holds a header and an end record only', () => {
    const bytes = encodeDataFile('raw', []);
    assert.equal(bytes.length, DATA_HEADER_BYTES + END_RECORD_BYTES);
    assert.deepEqual(checkDataFile(bytes, 'f'), { keySpace: 'raw', keys: 0, dataBytes: 0 });
  });
});

describe('the streaming data file writer', () => {
  it(`writes the same bytes as the in-memory encoder, split into files at chunkBytes (property, seed ${SEED})`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-backup-format-'));
    try {
      await fc.assert(
        fc.asyncProperty(recordsArb, fc.integer({ min: DATA_HEADER_BYTES + 1, max: 3_000 }), async (records, chunkBytes) => {
          const writer = new DataFileWriter(dir, 'txn', chunkBytes);
          for (const r of records) await writer.add(r.key, r.value);
          const files = await writer.finish();
          let next = 0;
          for (const [i, f] of files.entries()) {
            const bytes = await readFile(join(dir, f.name));
            assert.equal(bytes.length, f.fileBytes);
            const part = [...recordsOf(bytes, f.name)];
            assert.ok(part.length > 0, 'no empty file is written');
            // Every file but the last reached chunkBytes; none went on past the record that reached it.
            const recordsBytes = part.reduce((n, r) => n + 9 + r.key.length + r.value.length, 0);
            if (i < files.length - 1) assert.ok(DATA_HEADER_BYTES + recordsBytes >= chunkBytes, `file ${i} closed early`);
            const last = part[part.length - 1]!;
            assert.ok(DATA_HEADER_BYTES + recordsBytes - (9 + last.key.length + last.value.length) < chunkBytes, `file ${i} went past chunkBytes`);
            assert.ok(bytes.equals(encodeDataFile('txn', records.slice(next, next + part.length))), `file ${i} differs from the encoder's bytes`);
            assert.deepEqual(checkDataFile(bytes, f.name), { keySpace: 'txn', keys: f.keys, dataBytes: f.dataBytes });
            next += part.length;
          }
          assert.equal(next, records.length, 'every record is in a file');
        }),
        { seed: SEED, numRuns: 60 },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a record larger than the staging buffer goes out whole, between small ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-backup-format-'));
    try {
      const records: KvRecord[] = [
        { key: Buffer.from('a'), value: Buffer.alloc(700 * 1024, 1) },
        { key: Buffer.from('b'), value: Buffer.alloc(1536 * 1024, 2) },
        { key: Buffer.from('c'), value: Buffer.from('small') },
      ];
      const writer = new DataFileWriter(dir, 'raw', 64 * 1024 * 1024);
      for (const r of records) await writer.add(r.key, r.value);
      const [file, ...rest] = await writer.finish();
      assert.equal(rest.length, 0);
      const bytes = await readFile(join(dir, file!.name));
      assert.ok(bytes.equals(encodeDataFile('raw', records)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the manifest gateway', () => {
  const file = { name: 'txn-000001.fbk', keySpace: 'txn' as const, keys: 3, dataBytes: 30, fileBytes: 82, sha256: 'a'.repeat(64) };
  const good: Manifest = {
    format: 'flotilla-backup', formatVersion: BACKUP_FORMAT_VERSION, clusterId: '7', backupTs: '18446744073709551615', createdAt: new Date(0).toISOString(),
    rawConsistency: 'best-effort', files: [file], totals: totalsOf([file]),
  };
  const refusedAs = (json: unknown, what: string): BackupCorruptionError | UnsupportedBackupVersionError => assertRefused(() => parseManifest(JSON.stringify(json)), what);

  it('a manifest round-trips, a u64 ts included', () => {
    assert.deepEqual(parseManifest(JSON.stringify(good)), good);
  });

  it('an unknown version is UnsupportedBackupVersionError; malformed fields are badManifest', () => {
    assert.ok(refusedAs({ ...good, formatVersion: 2 }, 'v2') instanceof UnsupportedBackupVersionError);
    const cases: [string, unknown][] = [
      ['not json', '{'],
      ['no files', { ...good, files: undefined }],
      ['ts as a number', { ...good, backupTs: 5 }],
      ['ts over u64', { ...good, backupTs: '18446744073709551616' }],
      ['a path in a name', { ...good, files: [{ ...file, name: '../txn-000001.fbk' }] }],
      ['key space of another name', { ...good, files: [{ ...file, keySpace: 'raw' }] }],
      ['negative keys', { ...good, files: [{ ...file, keys: -1 }] }],
      ['short sha', { ...good, files: [{ ...file, sha256: 'ab' }] }],
      ['totals that do not add up', { ...good, totals: { ...good.totals, txnKeys: 4 } }],
      ['a file twice', { ...good, files: [file, file], totals: totalsOf([file, file]) }],
    ];
    for (const [what, json] of cases) {
      const err = typeof json === 'string' ? assertRefused(() => parseManifest(json), what) : refusedAs(json, what);
      assert.ok(err instanceof BackupCorruptionError && err.reason === 'badManifest', `${what}: ${err.message}`);
    }
  });
});

describe('restore batches', () => {
  it(`batches keep order, cover every record once and respect both bounds (property, seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 500 }), { maxLength: 200 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 2_000 }), (sizes, keysMax, bytesMax) => {
        const records = sizes.map((n, i) => ({ key: Buffer.from(String(i).padStart(4, '0')), value: Buffer.alloc(n) }));
        const batches = [...batchesOf(records, keysMax, bytesMax)];
        assert.deepEqual(batches.flat(), records);
        for (const b of batches) {
          assert.ok(b.length >= 1 && b.length <= keysMax);
          const bytes = b.reduce((n, r) => n + r.key.length + r.value.length, 0);
          assert.ok(b.length === 1 || bytes <= bytesMax, `a batch of ${b.length} records holds ${bytes} > ${bytesMax} bytes`);
        }
      }),
      FC,
    );
  });
});

describe('progress reports', () => {
  it('are throttled to one per interval, and a phase change always reports the final counts', () => {
    let now = 0;
    const seen: Progress<'a' | 'b'>[] = [];
    const meter = new ProgressMeter<'a' | 'b'>('a', (p) => seen.push(p), { keys: 1_000 }, () => now);
    for (let i = 0; i < 1_000; i++) {
      meter.add(1, 10);
      now += 1;
    }
    assert.ok(seen.length <= 1 + 1_000 / PROGRESS_INTERVAL_MS, `${seen.length} reports`);
    assert.ok(seen.length >= 1_000 / PROGRESS_INTERVAL_MS - 1, `${seen.length} reports: too few for a bar`);
    meter.startPhase('b', 'keep');
    assert.deepEqual(seen.slice(-2), [
      { phase: 'a', doneKeys: 1_000, doneBytes: 10_000, totalKeys: 1_000 },
      { phase: 'b', doneKeys: 1_000, doneBytes: 10_000 },
    ]);
    meter.startPhase('a', 'reset', { bytes: 5 });
    assert.deepEqual(seen.at(-1), { phase: 'a', doneKeys: 0, doneBytes: 0, totalBytes: 5 });
  });
});

import { readFile, writeFile } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { type KvPair, REPLICA_READS, type ReplicaRead } from '../../client/index.js';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { CliError, usageError } from '../errors.js';
import { keyEncodingFlags } from '../key-flags.js';
import { encodingOf, formatBytes, parseBytes, prefixEnd, type KeyEncoding } from '../keys.js';

/** Pairs `kv scan` prints by default. */
export const KV_SCAN_LIMIT_DEFAULT = 100;

const txnFlag = { txn: Flags.boolean({ description: 'the transactional key space (MVCC, snapshot reads) instead of the raw one', default: false }) };
const keyArg = { key: Args.string({ description: 'the key (UTF-8 unless --hex or --base64)', required: true }) };
const replicaReadFlag = {
  'replica-read': Flags.string({
    description: 'with --txn: where the read runs — leader, follower (another replica, after a read index from the leader: as fresh as the leader\'s) or mixed',
    options: [...REPLICA_READS],
  }),
};

/** The snapshot options of a read's --replica-read (usage error without --txn). */
function snapshotOptions(flags: { readonly txn: boolean; readonly 'replica-read'?: string | undefined }): { readonly replicaRead?: ReplicaRead } {
  const replicaRead = flags['replica-read'];
  if (replicaRead === undefined) return {};
  if (!flags.txn) throw usageError('--replica-read applies to transactional reads (--txn) only');
  return { replicaRead: replicaRead as ReplicaRead };
}

function keyOf(text: string, encoding: KeyEncoding): Buffer {
  const key = parseBytes(text, encoding, 'key');
  if (key.length === 0) throw usageError('key: must not be empty');
  return key;
}

export class KvGet extends FlotillaCommand {
  static override summary = 'Read a key (exit 1 with a message when it does not exist)';
  static override examples = [
    '<%= config.bin %> kv get config/a',
    '<%= config.bin %> kv get counter --txn',
    '<%= config.bin %> kv get counter --txn --replica-read follower',
    '<%= config.bin %> kv get 00ff --hex --out value.bin',
  ];
  static override args = keyArg;
  static override flags = {
    ...txnFlag, ...replicaReadFlag, ...keyEncodingFlags, ...jsonFlag,
    out: Flags.string({ description: 'write the value\'s bytes to this file instead of printing it' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(KvGet);
    const encoding = encodingOf(flags);
    const key = keyOf(args.key, encoding);
    const snapshot = snapshotOptions(flags);
    const client = await this.client(flags);
    const value = flags.txn ? await (await client.snapshot(undefined, snapshot)).get(key) : await client.raw.get(key);
    if (value === null) throw new CliError(`key ${JSON.stringify(args.key)} not found${flags.txn ? '' : ' (in the raw key space; --txn reads the transactional one)'}`, 1, 'NotFound');
    if (flags.out !== undefined) {
      await writeFile(flags.out, value);
      if (flags.json) this.printJson({ key: formatBytes(key, encoding), bytes: value.length, out: flags.out });
      return;
    }
    if (flags.json) return this.printJson({ key: formatBytes(key, encoding), value: formatBytes(value, encoding) });
    this.log(formatBytes(value, encoding));
  }
}

export class KvPut extends FlotillaCommand {
  static override summary = 'Write a key';
  static override examples = [
    '<%= config.bin %> kv put config/a on',
    '<%= config.bin %> kv put session/1 alive --ttl 30',
    '<%= config.bin %> kv put counter 1 --txn',
    '<%= config.bin %> kv put blob --in ./file.bin',
  ];
  static override args = {
    ...keyArg,
    value: Args.string({ description: 'the value (UTF-8 unless --hex or --base64); or --in', required: false }),
  };
  static override flags = {
    ...txnFlag, ...keyEncodingFlags, ...jsonFlag,
    in: Flags.string({ description: 'read the value\'s bytes from this file (- for stdin)' }),
    ttl: Flags.integer({ description: 'raw keys only: the key disappears after this many seconds', min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(KvPut);
    const encoding = encodingOf(flags);
    const key = keyOf(args.key, encoding);
    if ((args.value === undefined) === (flags.in === undefined)) throw usageError('give the value as an argument or with --in, not both or neither');
    const value = args.value !== undefined ? parseBytes(args.value, encoding, 'value') : await readInput(flags.in!);
    if (flags.ttl !== undefined && flags.txn) throw usageError('--ttl applies to raw keys only');
    const client = await this.client(flags);
    if (flags.txn) {
      const txn = await client.begin();
      txn.put(key, value);
      const commitTs = await txn.commit();
      if (flags.json) return this.printJson({ key: formatBytes(key, encoding), bytes: value.length, commitTs: commitTs.toString() });
      return this.log(`OK (commit ts ${commitTs})`);
    }
    await client.raw.put(key, value, flags.ttl === undefined ? undefined : { ttlSeconds: flags.ttl });
    if (flags.json) return this.printJson({ key: formatBytes(key, encoding), bytes: value.length });
    this.log('OK');
  }
}

export class KvDelete extends FlotillaCommand {
  static override summary = 'Delete a key (deleting a missing key is not an error)';
  static override examples = ['<%= config.bin %> kv delete config/a', '<%= config.bin %> kv delete counter --txn'];
  static override args = keyArg;
  static override flags = { ...txnFlag, ...keyEncodingFlags, ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(KvDelete);
    const encoding = encodingOf(flags);
    const key = keyOf(args.key, encoding);
    const client = await this.client(flags);
    if (flags.txn) {
      const txn = await client.begin();
      txn.delete(key);
      const commitTs = await txn.commit();
      if (flags.json) return this.printJson({ key: formatBytes(key, encoding), commitTs: commitTs.toString() });
      return this.log(`OK (commit ts ${commitTs})`);
    }
    await client.raw.delete(key);
    if (flags.json) return this.printJson({ key: formatBytes(key, encoding) });
    this.log('OK');
  }
}

export class KvScan extends FlotillaCommand {
  static override summary = 'List keys and values in key order, from a start key (inclusive) to an end key (exclusive), or under a prefix';
  static override examples = [
    '<%= config.bin %> kv scan --prefix config/',
    '<%= config.bin %> kv scan a z --limit 10',
    '<%= config.bin %> kv scan --prefix user/ --txn --reverse --json',
  ];
  static override args = {
    start: Args.string({ description: 'first key (default: the start of the key space)', required: false }),
    end: Args.string({ description: 'end key, excluded (default: the end of the key space)', required: false }),
  };
  static override flags = {
    ...txnFlag, ...replicaReadFlag, ...keyEncodingFlags, ...jsonFlag,
    prefix: Flags.string({ description: 'only keys that start with this (instead of start/end)' }),
    limit: Flags.integer({ description: 'print at most this many pairs', default: KV_SCAN_LIMIT_DEFAULT, min: 1, max: 1_000_000 }),
    reverse: Flags.boolean({ description: 'largest key first', default: false }),
    'keys-only': Flags.boolean({ description: 'print keys without values', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(KvScan);
    const encoding = encodingOf(flags);
    let start: Buffer;
    let end: Buffer | null;
    if (flags.prefix !== undefined) {
      if (args.start !== undefined) throw usageError('--prefix excludes start and end keys');
      start = parseBytes(flags.prefix, encoding, '--prefix');
      end = prefixEnd(start);
    } else {
      start = args.start === undefined ? Buffer.alloc(0) : parseBytes(args.start, encoding, 'start');
      end = args.end === undefined ? null : parseBytes(args.end, encoding, 'end');
      if (end !== null && Buffer.compare(end, start) <= 0) throw usageError('end key must be greater than the start key');
    }
    const snapshot = snapshotOptions(flags);
    const client = await this.client(flags);
    const opts = { limit: flags.limit, reverse: flags.reverse, keyOnly: flags['keys-only'] };
    const pairs: AsyncIterable<KvPair> = flags.txn ? (await client.snapshot(undefined, snapshot)).scan(start, end, opts) : client.raw.scan(start, end, opts);
    const out: { key: string; value?: string }[] = [];
    for await (const p of pairs) {
      const row = flags['keys-only'] ? { key: formatBytes(p.key, encoding) } : { key: formatBytes(p.key, encoding), value: formatBytes(p.value, encoding) };
      if (flags.json) out.push(row);
      else this.log(row.value === undefined ? row.key : `${row.key}\t${row.value}`);
    }
    if (flags.json) this.printJson({ pairs: out, count: out.length });
  }
}

/** A file's bytes, or stdin's for "-". */
export async function readInput(path: string): Promise<Buffer> {
  if (path !== '-') {
    try {
      return await readFile(path);
    } catch (err) {
      throw new CliError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

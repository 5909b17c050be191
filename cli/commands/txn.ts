import { Args, Flags } from '@oclif/core';
import { FlotillaCommand, jsonFlag } from '../base-command.js';
import { usageError } from '../errors.js';
import { keyEncodingFlags } from '../key-flags.js';
import { encodingOf, formatBytes, parseBytes, type KeyEncoding } from '../keys.js';
import { readInput } from './kv.js';

/** Operations one `flotilla txn` may apply (a transaction is held in memory until it commits). */
export const TXN_OPS_MAX = 100_000;

export type TxnOp =
  | { readonly op: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly op: 'delete'; readonly key: Buffer }
  | { readonly op: 'get'; readonly key: Buffer };

/**
 * Parses a batch: a JSON array, or one JSON object per line, of
 * `{"op":"put","key":"k","value":"v"}`, `{"op":"delete","key":"k"}` or `{"op":"get","key":"k"}`.
 * Keys and values are in `encoding`. Every problem names the operation (1-based).
 */
export function parseTxnOps(text: string, encoding: KeyEncoding): TxnOp[] {
  const trimmed = text.trim();
  if (trimmed === '') throw usageError('the batch is empty');
  let items: unknown[];
  try {
    items = trimmed.startsWith('[') ? (JSON.parse(trimmed) as unknown[]) : trimmed.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);
  } catch (err) {
    throw usageError(`the batch is not JSON (an array, or one object per line): ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(items)) throw usageError('the batch must be a JSON array or one object per line');
  if (items.length > TXN_OPS_MAX) throw usageError(`the batch has ${items.length} operations, limit ${TXN_OPS_MAX}`);
  return items.map((item, i): TxnOp => {
    const where = `operation ${i + 1}`;
    if (typeof item !== 'object' || item === null) throw usageError(`${where}: not an object`);
    const { op, key, value } = item as { op?: unknown; key?: unknown; value?: unknown };
    if (typeof key !== 'string' || key === '') throw usageError(`${where}: "key" must be a non-empty string`);
    const k = parseBytes(key, encoding, `${where}: key`);
    switch (op) {
      case 'put':
        if (typeof value !== 'string') throw usageError(`${where}: a put needs a string "value"`);
        return { op, key: k, value: parseBytes(value, encoding, `${where}: value`) };
      case 'delete':
      case 'get':
        return { op, key: k };
      default:
        throw usageError(`${where}: "op" must be put, delete or get (got ${JSON.stringify(op)})`);
    }
  });
}

export class Txn extends FlotillaCommand {
  static override summary = 'Apply a batch of operations atomically in one transaction and print its commit ts';
  static override description = `The batch is a JSON array, or one JSON object per line, read from a file or stdin:
  {"op":"put","key":"a","value":"1"}   {"op":"delete","key":"b"}   {"op":"get","key":"c"}
Gets read the transaction's snapshot (and its own earlier writes); their values are printed. Either every
write commits, or none does. A conflict with another transaction is retried; an unknown commit outcome is
reported and never retried.`;
  static override examples = [
    '<%= config.bin %> txn ops.jsonl',
    'echo \'[{"op":"put","key":"a","value":"1"},{"op":"delete","key":"b"}]\' | <%= config.bin %> txn -',
  ];
  static override args = { file: Args.string({ description: 'the batch file (- or absent: stdin)', required: false, ignoreStdin: true }) };
  static override flags = {
    ...keyEncodingFlags, ...jsonFlag,
    retries: Flags.integer({ description: 'times a write conflict is retried', default: 3, min: 0, max: 100 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Txn);
    const encoding = encodingOf(flags);
    const ops = parseTxnOps((await readInput(args.file ?? '-')).toString('utf8'), encoding);
    const client = await this.client(flags);
    // Each attempt returns its own reads: a retried attempt never sees an earlier one's.
    const { startTs, reads, commitTs } = await client.withTransaction(async (txn) => {
      const reads: { key: string; value: string | null }[] = [];
      for (const o of ops) {
        if (o.op === 'put') txn.put(o.key, o.value);
        else if (o.op === 'delete') txn.delete(o.key);
        else {
          const v = await txn.get(o.key);
          reads.push({ key: formatBytes(o.key, encoding), value: v === null ? null : formatBytes(v, encoding) });
        }
      }
      return { startTs: txn.startTs, reads, commitTs: await txn.commit() };
    }, { maxRetries: flags.retries });
    const writes = ops.filter((o) => o.op !== 'get').length;
    if (flags.json) return this.printJson({ startTs: startTs.toString(), commitTs: commitTs.toString(), writes, reads });
    for (const r of reads) this.log(`${r.key}\t${r.value ?? '(not found)'}`);
    this.log(`committed ${writes} write(s) at ts ${commitTs}`);
  }
}

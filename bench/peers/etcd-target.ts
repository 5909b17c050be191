// etcd behind the F9 BenchTarget interface, through the bench's own minimal v3 client
// (etcd-client.ts: grpc-js unary calls, hand-rolled protobuf): put = Put, get = a linearizable
// Range of one key, scan = a Range with a limit, transfer = a read of both accounts, then a Txn
// that puts both new balances only if neither key's mod revision moved since — optimistic
// concurrency, etcd's nearest thing to a Percolator transfer; read-modify-write the same on one key.

import assert from 'node:assert/strict';
import { FlotillaError } from '../../common/index.js';
import { decodeBalance, encodeBalance } from '../harness/balance.js';
import type { BenchTarget, TxnOutcome } from '../harness/target.js';
import { EtcdKvClient, type EtcdKvClientOptions } from './etcd-client.js';
import type { KeyValue, RequestOp } from './etcd-wire.js';

export { ETCD_CALL_DEADLINE_MS } from './etcd-client.js';

/** Range end "\0": every key from the start key on (etcd's api/v3 RangeRequest.range_end). */
const RANGE_END_ALL_KEYS = Buffer.from([0]);

/** One key as read for an optimistic write: its value and the revision of its last write. */
export interface VersionedRead {
  readonly key: Buffer;
  /** null: absent. */
  readonly value: Buffer | null;
  /** etcd's mod_revision; 0n when the key is absent (etcd compares an absent key's as 0). */
  readonly modRevision: bigint;
}

/** One account as read: its balance and the revision of its last write (0n: never written). */
export interface AccountRead {
  readonly key: Buffer;
  readonly balance: number;
  readonly modRevision: bigint;
}

export interface TransferRead {
  readonly from: AccountRead;
  readonly to: AccountRead;
}

/**
 * Opens a client on `endpoints` (client URLs, `http://host:port`, or bare `host:port`) and checks it
 * can reach the cluster with one linearizable read, so a wrong endpoint fails here and not on the
 * first measured operation. Calls go to the members round-robin (followers forward writes to the
 * leader and ask it for the read index), as etcd's clientv3 balancer does.
 */
export async function openEtcdTarget(endpoints: readonly string[], options: EtcdKvClientOptions = {}): Promise<EtcdTarget> {
  assert(endpoints.length > 0, 'openEtcdTarget: at least one endpoint');
  const client = new EtcdKvClient(endpoints, options);
  try {
    // One probe per member: every channel is connected before the measured window.
    for (let i = 0; i < endpoints.length; i++) await client.range({ key: Buffer.from('flotilla-bench-probe') });
  } catch (err) {
    client.close();
    throw new FlotillaError('Unavailable', `etcd at ${endpoints.join(', ')} did not answer a read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return new EtcdTarget(client);
}

export class EtcdTarget implements BenchTarget {
  readonly kind = 'etcd';

  constructor(private readonly client: EtcdKvClient) {}

  async put(key: Buffer, value: Buffer): Promise<void> {
    await this.client.put({ key, value });
  }

  async get(key: Buffer): Promise<Buffer | null> {
    // serializable unset: etcd's default Range is linearizable (a ReadIndex round to the leader).
    const res = await this.client.range({ key });
    assert(res.kvs.length <= 1, `etcd: a Range of one key returned ${res.kvs.length} pairs`);
    return res.kvs[0]?.value ?? null;
  }

  async scan(start: Buffer, limit: number): Promise<number> {
    assert(Number.isSafeInteger(limit) && limit >= 1, `scan: limit ${limit} must be a positive integer (etcd reads limit 0 as no limit)`);
    const res = await this.client.range({ key: start, rangeEnd: RANGE_END_ALL_KEYS, limit });
    assert(res.kvs.length <= limit, `etcd: a Range with limit ${limit} returned ${res.kvs.length} pairs`);
    return res.kvs.length;
  }

  /** etcd reads are all at one revision: a Range is already a snapshot read. */
  txnGet(key: Buffer): Promise<Buffer | null> {
    return this.get(key);
  }

  snapshotScan(start: Buffer, limit: number): Promise<number> {
    return this.scan(start, limit);
  }

  timestamp(): Promise<void> {
    return Promise.reject(new FlotillaError('InvalidArgument', 'etcd has no timestamp oracle: the tso workload runs on Flotilla only'));
  }

  async readModifyWrite(key: Buffer, modify: (old: Buffer | null) => Buffer): Promise<TxnOutcome> {
    const read = await this.readVersioned(key);
    return this.commitIfUnchanged(read, modify(read.value));
  }

  /** Step 1 of readModifyWrite: the key's value and mod revision (a linearizable Range). */
  async readVersioned(key: Buffer): Promise<VersionedRead> {
    const res = await this.client.range({ key });
    return versionedOf(key, res.kvs);
  }

  /** Step 2: puts `value` if and only if the key's mod revision is still the one read; else 'conflict'. */
  async commitIfUnchanged(read: VersionedRead, value: Buffer): Promise<TxnOutcome> {
    const res = await this.client.txn({
      compare: [{ key: read.key, target: 'mod', result: 'equal', modRevision: read.modRevision }],
      success: [{ put: { key: read.key, value } }],
      failure: [],
    });
    return res.succeeded ? 'committed' : 'conflict';
  }

  async transfer(from: Buffer, to: Buffer, amount: number, valueBytes: number): Promise<TxnOutcome | 'insufficient'> {
    const read = await this.readAccounts(from, to);
    return this.commitTransfer(read, amount, valueBytes);
  }

  /**
   * Step 1 of transfer: both accounts with their mod revisions, read in one read-only Txn (one
   * round trip, both at one revision, linearizable). Exported apart from step 2 so a test can
   * interleave two transfers deterministically.
   */
  async readAccounts(from: Buffer, to: Buffer): Promise<TransferRead> {
    assert(!from.equals(to), `transfer: from and to are the same account ${from.toString('hex')}`);
    const res = await this.client.txn({ compare: [], success: [{ range: { key: from } }, { range: { key: to } }], failure: [] });
    assert(res.succeeded, 'etcd: a Txn without compares did not succeed');
    const [fromOp, toOp] = res.responses;
    assert(fromOp?.kind === 'range' && toOp?.kind === 'range', 'etcd: a read-only Txn did not answer both ranges');
    return { from: accountOf(versionedOf(from, fromOp.range.kvs)), to: accountOf(versionedOf(to, toOp.range.kvs)) };
  }

  /**
   * Step 2 of transfer: 'insufficient' when `from` holds less than `amount` (nothing written);
   * else one Txn that puts both new balances if and only if both keys' mod revisions are still
   * the ones read — 'conflict' when either moved (another writer won; nothing written).
   */
  async commitTransfer(read: TransferRead, amount: number, valueBytes: number): Promise<TxnOutcome | 'insufficient'> {
    assert(Number.isSafeInteger(amount) && amount > 0, `transfer: amount ${amount} must be a positive integer`);
    if (read.from.balance < amount) return 'insufficient';
    const res = await this.client.txn({
      compare: [
        { key: read.from.key, target: 'mod', result: 'equal', modRevision: read.from.modRevision },
        { key: read.to.key, target: 'mod', result: 'equal', modRevision: read.to.modRevision },
      ],
      success: [putBalance(read.from.key, read.from.balance - amount, valueBytes), putBalance(read.to.key, read.to.balance + amount, valueBytes)],
      failure: [],
    });
    return res.succeeded ? 'committed' : 'conflict';
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** encodeBalance refuses a negative or unsafe balance (RangeError). */
function putBalance(key: Buffer, balance: number, valueBytes: number): RequestOp {
  return { put: { key, value: encodeBalance(balance, valueBytes) } };
}

function versionedOf(key: Buffer, kvs: readonly KeyValue[]): VersionedRead {
  assert(kvs.length <= 1, `etcd: a Range of one key returned ${kvs.length} pairs`);
  const kv = kvs[0];
  return kv === undefined ? { key, value: null, modRevision: 0n } : { key, value: kv.value, modRevision: kv.modRevision };
}

/** An absent account holds 0 at mod revision 0 (etcd compares an absent key's mod revision as 0). */
function accountOf(read: VersionedRead): AccountRead {
  return { key: read.key, balance: read.value === null ? 0 : parseBalance(read.key, read.value), modRevision: read.modRevision };
}

function parseBalance(key: Buffer, value: Buffer): number {
  const balance = decodeBalance(value);
  if (balance === null) {
    throw new FlotillaError('InvalidArgument', `account ${key.toString('hex')}: balance ${JSON.stringify(value.toString('latin1').slice(0, 32))} is not a decimal integer`);
  }
  return balance;
}

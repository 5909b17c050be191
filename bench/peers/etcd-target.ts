// etcd behind the F9 BenchTarget interface, through the `etcd3` client (gRPC, etcd's v3 API):
// put = Put, get = a linearizable Range of one key, scan = a Range with a limit, transfer = a
// read of both accounts, then a Txn that puts both new balances only if neither key's mod revision
// moved since — optimistic concurrency, etcd's nearest thing to a Percolator transfer.

import assert from 'node:assert/strict';
import { Etcd3, type IKeyValue, type IRequestOp } from 'etcd3';
import { FlotillaError } from '../../common/index.js';
import { type BenchTarget } from '../harness/target.js';

/**
 * Every unary call's deadline. etcd answers in milliseconds on loopback; 10 s covers a leader
 * election (1 s default timeout) plus the client's retries on another member, and still bounds a
 * call against a dead cluster so a bench run ends.
 */
export const ETCD_CALL_DEADLINE_MS = 10_000;

/** Range end "\0": every key from the start key on (etcd's api/v3 RangeRequest.range_end). */
const RANGE_END_ALL_KEYS = Buffer.from([0]);

/** One account as read: its balance and the revision of its last write (0: never written). */
export interface AccountRead {
  readonly key: Buffer;
  readonly balance: number;
  /** etcd's mod_revision as a decimal string (an int64 on the wire); '0' when the key is absent. */
  readonly modRevision: string;
}

export interface TransferRead {
  readonly from: AccountRead;
  readonly to: AccountRead;
}

/**
 * Opens a client on `endpoints` (client URLs, `http://host:port`; a bare `host:port` gets
 * `http://`) and checks it can reach the cluster with one linearizable read, so a wrong endpoint
 * fails here and not on the first measured operation. The client spreads calls over all
 * endpoints (a random member per call; followers forward writes to the leader).
 */
export async function openEtcdTarget(endpoints: readonly string[]): Promise<EtcdTarget> {
  assert(endpoints.length > 0, 'openEtcdTarget: at least one endpoint');
  const client = new Etcd3({
    hosts: endpoints.map((e) => (/^https?:\/\//.test(e) ? e : `http://${e}`)),
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_DEADLINE_MS }),
  });
  try {
    await client.kv.range({ key: Buffer.from('flotilla-bench-probe') });
  } catch (err) {
    client.close();
    throw new FlotillaError('Unavailable', `etcd at ${endpoints.join(', ')} did not answer a read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return new EtcdTarget(client);
}

export class EtcdTarget implements BenchTarget {
  readonly kind = 'etcd';

  constructor(private readonly client: Etcd3) {}

  async put(key: Buffer, value: Buffer): Promise<void> {
    await this.client.kv.put({ key, value });
  }

  async get(key: Buffer): Promise<Buffer | null> {
    // No `serializable`: etcd's default Range is linearizable (a ReadIndex round to the leader).
    const res = await this.client.kv.range({ key });
    assert(res.kvs.length <= 1, `etcd: a Range of one key returned ${res.kvs.length} pairs`);
    return res.kvs[0]?.value ?? null;
  }

  async scan(start: Buffer, limit: number): Promise<number> {
    assert(Number.isSafeInteger(limit) && limit >= 1, `scan: limit ${limit} must be a positive integer (etcd reads limit 0 as no limit)`);
    const res = await this.client.kv.range({ key: start, range_end: RANGE_END_ALL_KEYS, limit });
    assert(res.kvs.length <= limit, `etcd: a Range with limit ${limit} returned ${res.kvs.length} pairs`);
    return res.kvs.length;
  }

  async transfer(from: Buffer, to: Buffer, amount: number): Promise<'committed' | 'insufficient' | 'conflict'> {
    const read = await this.readAccounts(from, to);
    return this.commitTransfer(read, amount);
  }

  /**
   * Step 1 of transfer: both accounts with their mod revisions, read in one read-only Txn (one
   * round trip, both at one revision, linearizable). Exported apart from step 2 so a test can
   * interleave two transfers deterministically.
   */
  async readAccounts(from: Buffer, to: Buffer): Promise<TransferRead> {
    assert(!from.equals(to), `transfer: from and to are the same account ${from.toString('hex')}`);
    const res = await this.client.kv.txn({ success: [{ request_range: { key: from } }, { request_range: { key: to } }] });
    assert(res.succeeded, 'etcd: a Txn without compares did not succeed');
    const [fromRange, toRange] = res.responses.map((r) => r.response_range?.kvs);
    assert(fromRange !== undefined && toRange !== undefined, 'etcd: a read-only Txn did not answer both ranges');
    return { from: accountOf(from, fromRange), to: accountOf(to, toRange) };
  }

  /**
   * Step 2 of transfer: 'insufficient' when `from` holds less than `amount` (nothing written);
   * else one Txn that puts both new balances if and only if both keys' mod revisions are still
   * the ones read — 'conflict' when either moved (another writer won; nothing written).
   */
  async commitTransfer(read: TransferRead, amount: number): Promise<'committed' | 'insufficient' | 'conflict'> {
    assert(Number.isSafeInteger(amount) && amount > 0, `transfer: amount ${amount} must be a positive integer`);
    if (read.from.balance < amount) return 'insufficient';
    const res = await this.client.kv.txn({
      compare: [
        { key: read.from.key, target: 'Mod', result: 'Equal', mod_revision: read.from.modRevision },
        { key: read.to.key, target: 'Mod', result: 'Equal', mod_revision: read.to.modRevision },
      ],
      success: [putBalance(read.from.key, read.from.balance - amount), putBalance(read.to.key, read.to.balance + amount)],
    });
    return res.succeeded ? 'committed' : 'conflict';
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

function putBalance(key: Buffer, balance: number): IRequestOp {
  assert(Number.isSafeInteger(balance) && balance >= 0, `transfer: balance ${balance} out of range`);
  return { request_put: { key, value: Buffer.from(String(balance)) } };
}

/** An absent account holds 0 at mod revision 0 (etcd compares an absent key's mod revision as 0). */
function accountOf(key: Buffer, kvs: readonly IKeyValue[]): AccountRead {
  assert(kvs.length <= 1, `etcd: a Range of one key returned ${kvs.length} pairs`);
  const kv = kvs[0];
  if (kv === undefined) return { key, balance: 0, modRevision: '0' };
  return { key, balance: parseBalance(key, kv.value), modRevision: kv.mod_revision };
}

function parseBalance(key: Buffer, value: Buffer): number {
  const text = value.toString('latin1');
  const balance = /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(balance)) {
    throw new FlotillaError('InvalidArgument', `account ${key.toString('hex')}: balance ${JSON.stringify(text.slice(0, 32))} is not a decimal integer`);
  }
  return balance;
}

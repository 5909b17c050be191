// The F9 etcd peer: a real 3-member etcd cluster (Debian's etcd-server binary) started by
// bench/peers/etcd-cluster.ts and driven through the BenchTarget of bench/peers/etcd-target.ts —
// put/get round trips, scan counts at the edges, transfers that conserve money (two interleaved
// on the same accounts: exactly the first commits), and a stop that leaves no member behind.
// Without an etcd binary the cluster tests are skipped: CI does not install etcd, the bench's own
// setup step does (`npm run bench:setup`, issue F9). The start-up error paths run everywhere.

import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ETCD_NOT_FOUND_MESSAGE, findEtcdBinary, startEtcdCluster, type EtcdCluster } from '../../bench/peers/etcd-cluster.js';
import { EtcdCallError, EtcdKvClient } from '../../bench/peers/etcd-client.js';
import { openEtcdTarget, type EtcdTarget } from '../../bench/peers/etcd-target.js';
import { decodeBalance } from '../../bench/harness/balance.js';

const etcdBinary = await findEtcdBinary();
const SKIP_WITHOUT_ETCD = etcdBinary === undefined ? `${ETCD_NOT_FOUND_MESSAGE} — skipped: CI does not install etcd` : false;
/** Start (≈1 s), the cases, stop (≈0.3 s), on a loaded 2-core machine with room to spare. */
const SUITE_TIMEOUT_MS = 90_000;

const key = (s: string): Buffer => Buffer.from(s);

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ESRCH', `kill(${pid}, 0): ${String(err)}`);
    return false;
  }
}

/** Process ids whose command line mentions `text` (Linux /proc), to find members a failed start may have left. */
async function pidsMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if ((await readFile(`/proc/${entry}/cmdline`, 'latin1')).includes(text)) pids.push(Number(entry));
    } catch {
      // the process exited between readdir and readFile: it is not running, which is what we count
    }
  }
  return pids;
}

/** Account values of the transfer tests: a balance padded with spaces (bench/harness/balance.ts). */
const ACCOUNT_BYTES = 64;

async function balanceOf(target: EtcdTarget, account: string): Promise<number> {
  const value = await target.get(key(account));
  if (value === null) return 0;
  const balance = decodeBalance(value);
  assert.notEqual(balance, null, `${account} holds ${JSON.stringify(value.toString())}`);
  return balance!;
}

async function setBalances(target: EtcdTarget, balances: Readonly<Record<string, number>>): Promise<void> {
  for (const [account, balance] of Object.entries(balances)) await target.put(key(account), key(String(balance)));
}

describe('etcd peer: a real 3-member cluster behind BenchTarget', { skip: SKIP_WITHOUT_ETCD, timeout: SUITE_TIMEOUT_MS }, () => {
  let dir: string;
  let cluster: EtcdCluster;
  let target: EtcdTarget;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-etcd-peer-'));
    cluster = await startEtcdCluster({ members: 3, dir });
    target = await openEtcdTarget(cluster.endpoints);
  });

  after(async () => {
    await target?.close();
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('starts 3 members, each with its own client endpoint and process', () => {
    assert.equal(cluster.endpoints.length, 3);
    assert.equal(new Set(cluster.endpoints).size, 3);
    assert.equal(new Set(cluster.pids).size, 3);
    for (const pid of cluster.pids) assert.ok(isProcessAlive(pid), `member pid ${pid} is running`);
  });

  it('get reads back what put wrote, the latest write wins, and an absent key reads null', async () => {
    await target.put(key('kv/a'), key('one'));
    assert.deepEqual(await target.get(key('kv/a')), key('one'));
    await target.put(key('kv/a'), Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(await target.get(key('kv/a')), Buffer.from([0, 1, 2, 255]));
    assert.equal(await target.get(key('kv/absent')), null);
  });

  it('scan counts at most `limit` pairs from `start` on, start included, in key order', async () => {
    // Keys under 0xff sort after every other key this suite writes, so "from start on" is exact.
    const scanKey = (suffix: string): Buffer => Buffer.concat([Buffer.from([0xff]), key(`scan/${suffix}`)]);
    for (let i = 0; i < 10; i++) await target.put(scanKey(String(i).padStart(3, '0')), key('v'));
    assert.equal(await target.scan(scanKey('000'), 1), 1);
    assert.equal(await target.scan(scanKey('000'), 3), 3);
    assert.equal(await target.scan(scanKey('000'), 10), 10, 'limit equal to the keys there');
    assert.equal(await target.scan(scanKey('000'), 11), 10, 'limit above the keys there');
    assert.equal(await target.scan(scanKey('005'), 100), 5, 'a present start key counts');
    assert.equal(await target.scan(scanKey('0055'), 100), 4, 'an absent start key: from the next key on');
    assert.equal(await target.scan(scanKey('009'), 100), 1, 'the last key alone');
    assert.equal(await target.scan(scanKey('010'), 5), 0, 'past the last key');
  });

  it('transfer moves the amount, treats an absent account as 0, and refuses an overdraft', async () => {
    await setBalances(target, { 'acct/t1-a': 100 });
    assert.equal(await target.transfer(key('acct/t1-a'), key('acct/t1-b'), 30, ACCOUNT_BYTES), 'committed');
    assert.equal((await target.get(key('acct/t1-b')))?.length, ACCOUNT_BYTES, 'a transfer writes values of the run\'s value size');
    assert.deepEqual([await balanceOf(target, 'acct/t1-a'), await balanceOf(target, 'acct/t1-b')], [70, 30]);
    assert.equal(await target.transfer(key('acct/t1-a'), key('acct/t1-b'), 71, ACCOUNT_BYTES), 'insufficient');
    assert.deepEqual([await balanceOf(target, 'acct/t1-a'), await balanceOf(target, 'acct/t1-b')], [70, 30]);
    assert.equal(await target.transfer(key('acct/t1-a'), key('acct/t1-b'), 70, ACCOUNT_BYTES), 'committed', 'the whole balance may move');
    assert.deepEqual([await balanceOf(target, 'acct/t1-a'), await balanceOf(target, 'acct/t1-b')], [0, 100]);
  });

  it('of two transfers that read the same accounts, the first to commit wins and the second conflicts', async () => {
    await setBalances(target, { 'acct/t2-a': 100, 'acct/t2-b': 100 });
    const first = await target.readAccounts(key('acct/t2-a'), key('acct/t2-b'));
    const second = await target.readAccounts(key('acct/t2-a'), key('acct/t2-b'));
    assert.equal(await target.commitTransfer(second, 10, ACCOUNT_BYTES), 'committed');
    assert.equal(await target.commitTransfer(first, 25, ACCOUNT_BYTES), 'conflict');
    assert.deepEqual([await balanceOf(target, 'acct/t2-a'), await balanceOf(target, 'acct/t2-b')], [90, 110]);
  });

  it('a transfer conflicts when only its `to` account was written since it read', async () => {
    await setBalances(target, { 'acct/t3-a': 100, 'acct/t3-b': 100, 'acct/t3-c': 100 });
    const read = await target.readAccounts(key('acct/t3-a'), key('acct/t3-b'));
    assert.equal(await target.transfer(key('acct/t3-c'), key('acct/t3-b'), 40, ACCOUNT_BYTES), 'committed');
    assert.equal(await target.commitTransfer(read, 10, ACCOUNT_BYTES), 'conflict', 'committing would overwrite the 40 credited to b');
    const balances = [await balanceOf(target, 'acct/t3-a'), await balanceOf(target, 'acct/t3-b'), await balanceOf(target, 'acct/t3-c')];
    assert.deepEqual(balances, [100, 140, 60]);
  });

  it('a transfer conflicts when only its `from` account was written since it read', async () => {
    await setBalances(target, { 'acct/t4-a': 100, 'acct/t4-b': 100, 'acct/t4-d': 100 });
    const read = await target.readAccounts(key('acct/t4-a'), key('acct/t4-b'));
    assert.equal(await target.transfer(key('acct/t4-a'), key('acct/t4-d'), 70, ACCOUNT_BYTES), 'committed');
    assert.equal(await target.commitTransfer(read, 50, ACCOUNT_BYTES), 'conflict', 'committing would overdraw a (30 left) and mint 70');
    const balances = [await balanceOf(target, 'acct/t4-a'), await balanceOf(target, 'acct/t4-b'), await balanceOf(target, 'acct/t4-d')];
    assert.deepEqual(balances, [30, 100, 170]);
  });

  it('concurrent transfers conserve the total and move exactly what the committed ones say', async () => {
    const accounts = ['acct/t5-0', 'acct/t5-1', 'acct/t5-2', 'acct/t5-3'];
    await setBalances(target, Object.fromEntries(accounts.map((a) => [a, 50])));
    const plan = Array.from({ length: 24 }, (_, i) => ({ from: accounts[i % 4] ?? '', to: accounts[(i + 1 + (i >> 2)) % 4] ?? '', amount: 5 + (i % 3) * 10 }))
      .filter((t) => t.from !== t.to);
    const outcomes = await Promise.all(plan.map((t) => target.transfer(key(t.from), key(t.to), t.amount, ACCOUNT_BYTES)));
    const expected = new Map(accounts.map((a) => [a, 50]));
    plan.forEach((t, i) => {
      if (outcomes[i] !== 'committed') return;
      expected.set(t.from, (expected.get(t.from) ?? 0) - t.amount);
      expected.set(t.to, (expected.get(t.to) ?? 0) + t.amount);
    });
    const actual = new Map<string, number>();
    for (const a of accounts) actual.set(a, await balanceOf(target, a));
    assert.deepEqual(actual, expected, `outcomes: ${outcomes.join(', ')}`);
    assert.equal([...actual.values()].reduce((x, y) => x + y, 0), 200, 'the total is conserved');
    assert.ok(outcomes.includes('committed'), 'at least one transfer commits');
  });

  it('concurrent transfers from distinct accounts into one account lose no credit', async () => {
    // Every transfer shares only its `to` account with the others: each one that commits must
    // have seen the sink's latest balance, or a credit is overwritten and money vanishes.
    const sources = Array.from({ length: 8 }, (_, i) => `acct/t6-src${i}`);
    await setBalances(target, { ...Object.fromEntries(sources.map((a) => [a, 10])), 'acct/t6-sink': 0 });
    const outcomes = await Promise.all(sources.map((s) => target.transfer(key(s), key('acct/t6-sink'), 10, ACCOUNT_BYTES)));
    const committed = outcomes.filter((o) => o === 'committed').length;
    assert.ok(committed >= 1, `outcomes: ${outcomes.join(', ')}`);
    assert.equal(await balanceOf(target, 'acct/t6-sink'), 10 * committed, `outcomes: ${outcomes.join(', ')}`);
    for (const [i, s] of sources.entries()) assert.equal(await balanceOf(target, s), outcomes[i] === 'committed' ? 0 : 10, s);
  });

  it('the bench client: a Put answers a new revision, a linearizable and a serializable Range see it, on every member', async () => {
    const client = new EtcdKvClient(cluster.endpoints);
    try {
      const first = await client.put({ key: key('raw/r'), value: key('1') });
      const second = await client.put({ key: key('raw/r'), value: key('2') });
      assert.ok(second.revision > first.revision && first.revision > 0n, `revisions ${first.revision}, ${second.revision}`);
      // Round-robin: three ranges in a row go to the three members (each answer names its member).
      const members = new Set<bigint>();
      for (let i = 0; i < cluster.endpoints.length; i++) {
        const r = await client.range({ key: key('raw/r') });
        assert.deepEqual(r.kvs.map((kv) => [kv.value.toString(), kv.modRevision, kv.version]), [['2', second.revision, 2n]]);
        assert.ok(r.revision >= second.revision);
        members.add(r.memberId);
      }
      assert.equal(members.size, 3, `answered by members ${[...members].join(', ')}`);
      const member = new EtcdKvClient([cluster.endpoints[2]!]);
      try {
        // A serializable read may lag, but a member's own data includes the put once it applied: poll with a deadline.
        const deadline = Date.now() + 10_000;
        let seen = '';
        while (seen !== '2' && Date.now() < deadline) seen = (await member.range({ key: key('raw/r'), serializable: true })).kvs[0]?.value.toString() ?? '';
        assert.equal(seen, '2');
      } finally {
        member.close();
      }
      const txn = await client.txn({ compare: [{ key: key('raw/absent'), result: 'equal', target: 'mod', modRevision: 0n }], success: [{ put: { key: key('raw/absent'), value: key('x') } }], failure: [] });
      assert.equal(txn.succeeded, true, 'an absent key compares equal to mod revision 0 (the oneof member is sent even when 0)');
      assert.deepEqual(txn.responses.map((r) => r.kind), ['put']);
    } finally {
      client.close();
    }
  });

  it('the bench client: a call to a member that is not there fails with a typed error naming the method', async () => {
    const client = new EtcdKvClient(['127.0.0.1:1']);
    try {
      await assert.rejects(client.range({ key: key('x') }), (err: unknown) => err instanceof EtcdCallError && err.method === '/etcdserverpb.KV/Range' && err.code === 'UNAVAILABLE');
    } finally {
      client.close();
    }
    await assert.rejects(client.put({ key: key('x'), value: key('y') }), (err: unknown) => err instanceof EtcdCallError && err.code === 'CLOSED');
  });

  it('readModifyWrite writes what modify returns from the value read; an interleaved write makes it conflict', async () => {
    await target.put(key('rmw/a'), key('5'));
    assert.equal(await target.readModifyWrite(key('rmw/a'), (old) => key(String(Number(old?.toString()) + 1))), 'committed');
    assert.deepEqual(await target.get(key('rmw/a')), key('6'));
    assert.equal(await target.readModifyWrite(key('rmw/new'), (old) => key(old === null ? 'was-absent' : 'was-there')), 'committed');
    assert.deepEqual(await target.get(key('rmw/new')), key('was-absent'));
    const read = await target.readVersioned(key('rmw/a'));
    await target.put(key('rmw/a'), key('100'));
    assert.equal(await target.commitIfUnchanged(read, key('7')), 'conflict');
    assert.deepEqual(await target.get(key('rmw/a')), key('100'), 'the conflicting write is not applied');
  });

  it('txnGet and snapshotScan read like get and scan; timestamp is refused (etcd has no TSO)', async () => {
    await target.put(key('snap/1'), key('one'));
    assert.deepEqual(await target.txnGet(key('snap/1')), key('one'));
    assert.equal(await target.txnGet(key('snap/absent')), null);
    assert.equal(await target.snapshotScan(key('snap/'), 1), 1);
    await assert.rejects(target.timestamp(), /no timestamp oracle/);
  });

  it('stop ends every member process', async () => {
    await target.close();
    await cluster.stop();
    for (const pid of cluster.pids) assert.equal(isProcessAlive(pid), false, `member pid ${pid} still runs after stop()`);
    assert.deepEqual(await pidsMentioning(dir), [], 'no process still names the cluster dir');
  });
});

describe('etcd peer: start-up failures', { timeout: SUITE_TIMEOUT_MS }, () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-etcd-peer-fail-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a missing binary fails with one message that says how to install etcd', async () => {
    await assert.rejects(startEtcdCluster({ members: 3, dir: join(dir, 'missing'), etcdBinary: join(dir, 'no-such-etcd') }), (err: Error) => {
      assert.equal(err.message, ETCD_NOT_FOUND_MESSAGE);
      return true;
    });
  });

  it('an even or zero member count is refused', async () => {
    await assert.rejects(startEtcdCluster({ members: 2, dir: join(dir, 'even') }), /not an odd count/);
    await assert.rejects(startEtcdCluster({ members: 0, dir: join(dir, 'zero') }), /not an odd count/);
  });

  it('a member that exits during start-up fails the start at once, naming its log', async () => {
    const started = Date.now();
    await assert.rejects(startEtcdCluster({ members: 1, dir: join(dir, 'false'), etcdBinary: '/bin/false' }), /etcd1 exited with code 1 .*etcd1\.log/);
    assert.ok(Date.now() - started < 20_000, 'did not wait out the health deadline');
  });

  it('when one member dies during start-up, the members already running are stopped too', { skip: SKIP_WITHOUT_ETCD }, async () => {
    // A wrapper that runs the real etcd for every member but etcd2, which exits at once.
    const clusterDir = join(dir, 'one-dies');
    await mkdir(clusterDir, { recursive: true });
    const wrapper = join(dir, 'etcd-but-etcd2');
    await writeFile(wrapper, `#!/bin/sh\ncase "$*" in *"--name etcd2 "*) exit 3;; esac\nexec '${etcdBinary ?? ''}' "$@"\n`);
    await chmod(wrapper, 0o755);
    await assert.rejects(startEtcdCluster({ members: 3, dir: clusterDir, etcdBinary: wrapper }), /etcd2 exited with code 3/);
    assert.deepEqual(await pidsMentioning(clusterDir), [], 'etcd1 and etcd3 were stopped');
  });
});

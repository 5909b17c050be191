// The `flotilla` CLI against a real playground (issue F8): `flotilla playground` as a child
// process (1 PD + 3 stores, real RocksDB and gRPC), every command run as a user runs it, output
// judged against what the client library and PD's HTTP API say, and every error case ending in
// one line on stderr and the documented exit code (2 usage, 1 failure).

import assert from 'node:assert/strict';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '../../client/index.js';
import { COMMANDS } from '../../cli/index.js';
import { createRng } from '../../common/index.js';
import { freePortBlock, Playground, processAlive, runCli, type CliResult } from '../support/cli.js';

function ok(r: CliResult, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** A failure: the exit code, and exactly one line `flotilla: …` on stderr matching `pattern`. */
function fails(r: CliResult, code: number, pattern: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}, wanted ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `${what}: stderr must be one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^flotilla: /, what);
  assert.match(lines[0]!, pattern, what);
}

describe('flotilla CLI against a playground', { timeout: 600_000 }, () => {
  let pg: Playground;
  let pd: string[];
  let client: Client;
  let scratch: string;
  const cli = (...args: string[]): Promise<CliResult> => runCli([...args, ...pd]);

  before(async () => {
    pg = await Playground.start();
    pd = await pg.pdFlag();
    client = await Client.connect({ pdEndpoints: pd[1]!.split(',') });
    scratch = await mkdtemp(join(tmpdir(), 'flotilla-cli-scratch-'));
  });

  after(async () => {
    await client?.close();
    await pg?.kill();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  it('writes cluster.json with every endpoint and pid, and prints ready-to-paste commands', async () => {
    const info = await pg.info();
    assert.equal(info.pdMembers.length, 1);
    assert.equal(info.stores.length, 3);
    assert.equal(info.pd.clientAddress, `127.0.0.1:${pg.ports.pdPort}`);
    assert.equal(info.dashboardUrl, `http://127.0.0.1:${pg.ports.pdPort + 2}/dashboard`);
    for (const s of info.stores) assert.ok(processAlive(s.pid), `${s.name} pid ${s.pid} alive`);
    assert.match(pg.log, /\.\/flotilla kv put greeting hello --pd 127\.0\.0\.1:\d+/);
    assert.match(pg.log, new RegExp(`dashboard +http://127\\.0\\.0\\.1:${pg.ports.pdPort + 2}/dashboard`));
  });

  it('cluster status, member list, store list/show agree with the cluster', async () => {
    const status = JSON.parse(ok(await cli('cluster', 'status', '--json'), 'cluster status')) as {
      healthy: boolean; pd: { leader: string; members: unknown[] }; stores: { total: number; up: number; down: number }; regions: { total: number };
    };
    assert.equal(status.healthy, true);
    assert.equal(status.pd.leader, 'pd1');
    assert.deepEqual([status.stores.total, status.stores.up, status.stores.down], [3, 3, 0]);
    assert.ok(status.regions.total >= 1);
    const table = ok(await cli('cluster', 'status'), 'cluster status table');
    assert.match(table, /health: +ok/);
    assert.match(table, /stores: +3 up, 0 down/);

    const members = JSON.parse(ok(await cli('member', 'list', '--json'), 'member list')) as { leader: string; members: { name: string; statusUrl: string }[] };
    assert.equal(members.leader, 'pd1');
    assert.deepEqual(members.members.map((m) => m.statusUrl), [`http://127.0.0.1:${pg.ports.pdPort + 2}`]);

    const stores = JSON.parse(ok(await cli('store', 'list', '--json'), 'store list')) as { stores: { id: number; address: string; state: string; status: string; stats: { capacity: string } | null }[] };
    assert.equal(stores.stores.length, 3);
    const info = await pg.info();
    assert.deepEqual(stores.stores.map((s) => s.address).sort(), info.stores.map((s) => s.address).sort());
    for (const s of stores.stores) {
      assert.equal(s.state, 'up');
      assert.equal(s.status, 'up');
    }
    // Capacity arrives with the store heartbeats (every 10 s by default): poll, never sleep.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const shown = JSON.parse(ok(await cli('store', 'show', String(stores.stores[0]!.id), '--json'), 'store show')) as { id: number; stats: { capacity?: string } | null };
      assert.equal(shown.id, stores.stores[0]!.id);
      if (Number(shown.stats?.capacity ?? 0) > 0) break;
      assert.ok(Date.now() < deadline, 'a store reports its disk capacity within a minute');
    }
    fails(await cli('store', 'show', 'abc'), 2, /store id "abc" is not a positive integer/, 'store show abc');
    fails(await cli('store', 'show', '999'), 1, /999.*\[StoreNotFound\]/, 'store show 999');

    // The tables, as a user reads them.
    const memberTable = ok(await cli('member', 'list'), 'member list table').split('\n');
    assert.match(memberTable[0]!, /^NAME +MEMBER ID +LEADER +CLIENT URLS +PEER URLS +HTTP URL$/);
    assert.match(memberTable[1]!, new RegExp(`^pd1 +\\d+ +yes +http://127\\.0\\.0\\.1:${pg.ports.pdPort} `));
    const storeTable = ok(await cli('store', 'list'), 'store list table').split('\n').filter((l) => l.length > 0);
    assert.match(storeTable[0]!, /^ID +ADDRESS +STATE +STATUS +HEARTBEAT +REGIONS +LEADERS +CAPACITY +LABELS$/);
    assert.equal(storeTable.length, 4, 'a header and one row per store');
    for (const s of stores.stores) assert.ok(storeTable.some((row) => new RegExp(`^${s.id} +${s.address.replace(/\./g, '\\.')} +up +up `).test(row)), `store ${s.id} listed`);
    const shownTable = ok(await cli('store', 'show', String(stores.stores[0]!.id)), 'store show fields');
    assert.match(shownTable, new RegExp(`address: +${stores.stores[0]!.address.replace(/\./g, '\\.')}`));
    const cap = /capacity: +([\d.]+ \w+) free of ([\d.]+ \w+)/.exec(shownTable);
    assert.ok(cap !== null, shownTable);
    const shownJson = JSON.parse(ok(await cli('store', 'show', String(stores.stores[0]!.id), '--json'), 'store show')) as { stats: { capacity: string; available: string } };
    const bytes = (text: string): number => {
      const [n, unit] = text.split(' ');
      return Number(n) * 1024 ** ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(unit!);
    };
    const near = (a: number, b: number): boolean => Math.abs(a - b) <= 0.01 * b + 1;
    assert.ok(near(bytes(cap[2]!), Number(shownJson.stats.capacity)), `capacity ${cap[2]} vs ${shownJson.stats.capacity} bytes`);
    assert.ok(bytes(cap[1]!) <= bytes(cap[2]!) && near(bytes(cap[1]!), Number(shownJson.stats.available)), `free ${cap[1]} vs ${shownJson.stats.available} bytes`);
    // Membership and store removal: only the refusals here (a real change would take the
    // playground's one PD member out of quorum, or a store it needs).
    fails(await cli('member', 'add', 'pd9', '--peer-urls', 'nowhere', '--client-urls', '127.0.0.1:2388'), 2, /--peer-urls: "nowhere" is not host:port/, 'member add bad url');
    fails(await cli('member', 'add', 'pd9', '--peer-urls', ' , ', '--client-urls', '127.0.0.1:2388'), 2, /--peer-urls: no URL given/, 'member add no url');
    fails(await cli('member', 'remove', 'pd9'), 2, /no PD member is named "pd9" \(members: pd1\)/, 'member remove unknown');
    fails(await cli('store', 'delete', '999'), 1, /999.*\[StoreNotFound\]/, 'store delete 999');
  });

  it('region list/show/key describe the regions PD knows', async () => {
    const regions = JSON.parse(ok(await cli('region', 'list', '--json'), 'region list')) as { count: number; regions: { id: number; startKey: string; endKey: string; peers: unknown[] }[] };
    assert.ok(regions.regions.length >= 1);
    assert.equal(regions.regions[0]!.startKey, '');
    assert.equal(regions.regions[regions.regions.length - 1]!.endKey, '');
    const first = regions.regions[0]!;
    const shown = JSON.parse(ok(await cli('region', 'show', String(first.id), '--json'), 'region show')) as { id: number; peers: unknown[] };
    assert.equal(shown.id, first.id);
    assert.equal(shown.peers.length, 3);
    const byKey = JSON.parse(ok(await cli('region', 'key', 'user/1', '--json'), 'region key')) as { id: number };
    assert.equal(byKey.id, first.id);
    const byHexKey = JSON.parse(ok(await cli('region', 'key', 'ff00', '--hex', '--json'), 'region key --hex')) as { id: number };
    assert.equal(byHexKey.id, regions.regions[regions.regions.length - 1]!.id);
    // --start begins at the region holding the key (with one region: that one), --limit bounds the list.
    const fromKey = JSON.parse(ok(await cli('region', 'list', '--start', 'user/1', '--json'), 'region list --start')) as { regions: { id: number }[] };
    assert.deepEqual(fromKey.regions.map((r) => r.id), regions.regions.map((r) => r.id), 'region list --start from the region holding the key');
    const limited = JSON.parse(ok(await cli('region', 'list', '--limit', '1', '--json'), 'region list --limit')) as { regions: unknown[] };
    assert.equal(limited.regions.length, 1);
    const table = ok(await cli('region', 'show', String(first.id)), 'region show table');
    assert.match(table, /start key: +\(start of key space\)/);
    assert.match(table, /down peers: +none/);
    assert.match(table, /pending peers: +none/);
    fails(await cli('region', 'show', '987654'), 1, /987654 not found \[RegionNotFound\]/, 'region show unknown');
    fails(await cli('region', 'show', '-1'), 2, /not a positive integer/, 'region show -1');
    fails(await cli('region', 'key', 'zz', '--hex'), 2, /key "zz" is not hex/, 'region key bad hex');
  });

  it('kv put/get/delete in both key spaces, seen by the client library the same way', async () => {
    ok(await cli('kv', 'put', 'cli/raw', 'hello'), 'kv put raw');
    assert.equal(String(await client.raw.get('cli/raw')), 'hello');
    assert.equal(ok(await cli('kv', 'get', 'cli/raw'), 'kv get raw'), 'hello\n');
    // The raw and transactional key spaces never mix.
    fails(await cli('kv', 'get', 'cli/raw', '--txn'), 1, /not found/, 'raw key read as txn');
    const put = ok(await cli('kv', 'put', 'cli/txn', 'v1', '--txn'), 'kv put --txn');
    assert.match(put, /^OK \(commit ts \d+\)$/m);
    assert.equal(String(await (await client.snapshot()).get('cli/txn')), 'v1');
    assert.equal(ok(await cli('kv', 'get', 'cli/txn', '--txn'), 'kv get --txn'), 'v1\n');
    assert.equal(ok(await cli('kv', 'get', 'cli/txn', '--txn', '--replica-read', 'follower'), 'kv get --replica-read follower'), 'v1\n');
    assert.match(ok(await cli('kv', 'scan', '--prefix', 'cli/t', '--txn', '--replica-read', 'mixed'), 'kv scan --replica-read mixed'), /^cli\/txn\tv1$/m);
    fails(await cli('kv', 'get', 'cli/txn', '--replica-read', 'follower'), 2, /--replica-read applies to transactional reads \(--txn\) only/, '--replica-read without --txn');
    fails(await cli('kv', 'get', 'cli/txn', '--txn', '--replica-read', 'nearest'), 2, /Expected --replica-read=nearest to be one of: leader, follower, mixed/, 'a bad --replica-read');
    fails(await cli('kv', 'get', 'cli/txn'), 1, /not found \(in the raw key space; --txn reads the transactional one\)/, 'txn key read raw');
    ok(await cli('kv', 'delete', 'cli/txn', '--txn'), 'kv delete --txn');
    assert.equal(await (await client.snapshot()).get('cli/txn'), null);
    ok(await cli('kv', 'delete', 'cli/raw'), 'kv delete raw');
    assert.equal(await client.raw.get('cli/raw'), null);
    ok(await cli('kv', 'delete', 'cli/never-written'), 'deleting a missing key is fine');

    // Binary keys and values through --hex and --base64, values to a file with --out.
    const key = Buffer.from([0x00, 0xff, 0x10, 0x80]);
    const value = Buffer.from([0xde, 0xad, 0x00, 0xbe, 0xef, 0x0a]);
    ok(await cli('kv', 'put', key.toString('hex'), value.toString('hex'), '--hex'), 'kv put --hex');
    assert.deepEqual(await client.raw.get(key), value);
    assert.equal(ok(await cli('kv', 'get', key.toString('base64'), '--base64'), 'kv get --base64'), `${value.toString('base64')}\n`);
    const out = join(scratch, 'value.bin');
    ok(await cli('kv', 'get', key.toString('hex'), '--hex', '--out', out), 'kv get --out');
    assert.deepEqual(await readFile(out), value);
    const input = join(scratch, 'input.bin');
    await writeFile(input, value);
    ok(await cli('kv', 'put', 'cli/from-file', '--in', input, '--txn'), 'kv put --in');
    assert.deepEqual(await (await client.snapshot()).get('cli/from-file'), value);

    fails(await cli('kv', 'get', 'xyz', '--hex'), 2, /key "xyz" is not hex/, 'bad hex key');
    fails(await cli('kv', 'get', 'a?b', '--base64'), 2, /is not base64/, 'bad base64 key');
    fails(await cli('kv', 'get', 'k', '--hex', '--base64'), 2, /cannot also be provided|exclude/, '--hex with --base64');
    fails(await cli('kv', 'put', 'k'), 2, /value as an argument or with --in/, 'put without a value');
    fails(await cli('kv', 'put', 'k', 'v', '--txn', '--ttl', '5'), 2, /--ttl applies to raw keys only/, '--ttl with --txn');
    fails(await cli('kv', 'get', ''), 2, /must not be empty/, 'empty key');
    fails(await cli('kv', 'get', 'k', '--bogus'), 2, /Nonexistent flag: --bogus/, 'unknown flag');
  });

  it('kv scan matches a model of the keys: prefix, start/end, limit, reverse, keys-only, both key spaces', async () => {
    const rng = createRng(8);
    const model = new Map<string, Buffer>();
    const pairs: [Buffer, Buffer][] = [];
    for (let i = 0; i < 60; i++) {
      const key = Buffer.concat([Buffer.from('scan/'), Buffer.from([rng.nextRange(0, 3)]), Buffer.from(rng.nextRange(0, 1_000_000).toString(36))]);
      const value = Buffer.from(`v${i}`);
      model.set(key.toString('hex'), value);
      pairs.push([key, value]);
    }
    await client.raw.batchPut(pairs);
    await client.withTransaction(async (txn) => {
      for (const [k, v] of pairs) txn.put(k, v);
    });
    // Neighbours outside the prefix must never show.
    await client.raw.put('scan.', 'outside');
    await client.raw.put('scam', 'outside');
    const sorted = [...model.keys()].sort();
    type Row = { key: string; value?: string };
    const scan = async (...args: string[]): Promise<Row[]> => (JSON.parse(ok(await cli('kv', 'scan', '--json', '--hex', ...args), `kv scan ${args.join(' ')}`)) as { pairs: Row[] }).pairs;
    const prefixHex = Buffer.from('scan/').toString('hex');
    for (const txn of [[], ['--txn']]) {
      const all = await scan('--prefix', prefixHex, '--limit', '1000', ...txn);
      assert.deepEqual(all.map((r) => r.key), sorted, `prefix scan ${txn.join('')}`);
      assert.deepEqual(all.map((r) => r.value), sorted.map((k) => model.get(k)!.toString('hex')));
      const reverse = await scan('--prefix', prefixHex, '--reverse', '--limit', '7', ...txn);
      assert.deepEqual(reverse.map((r) => r.key), [...sorted].reverse().slice(0, 7), `reverse ${txn.join('')}`);
      const [lo, hi] = [sorted[10]!, sorted[40]!];
      const ranged = await scan(lo, hi, ...txn);
      assert.deepEqual(ranged.map((r) => r.key), sorted.slice(10, 40), `[lo, hi) ${txn.join('')}`);
      const keysOnly = await scan('--prefix', prefixHex, '--keys-only', '--limit', '5', ...txn);
      assert.deepEqual(keysOnly, sorted.slice(0, 5).map((key) => ({ key })));
    }
    const text = ok(await cli('kv', 'scan', '--prefix', 'scan.'), 'text scan');
    assert.equal(text, 'scan.\toutside\n');
    fails(await cli('kv', 'scan', 'b', 'a'), 2, /end key must be greater/, 'end before start');
    fails(await cli('kv', 'scan', 'a', '--prefix', 'x'), 2, /--prefix excludes/, 'prefix with start');
  });

  it('txn applies a batch atomically from a file or stdin and prints its commit ts; bad batches are refused whole', async () => {
    await client.withTransaction(async (txn) => {
      txn.put('batch/b', 'old');
      txn.put('batch/c', 'seen');
    });
    const file = join(scratch, 'ops.jsonl');
    await writeFile(file, ['{"op":"put","key":"batch/a","value":"1"}', '{"op":"delete","key":"batch/b"}', '{"op":"get","key":"batch/c"}', '{"op":"get","key":"batch/a"}'].join('\n'));
    const out = ok(await cli('txn', file), 'txn file');
    assert.match(out, /^batch\/c\tseen$/m);
    assert.match(out, /^batch\/a\t1$/m, 'a get sees the transaction\'s own earlier put');
    const commitTs = /committed 2 write\(s\) at ts (\d+)/.exec(out)?.[1];
    assert.ok(commitTs !== undefined, out);
    const snap = await client.snapshot();
    assert.equal(String(await snap.get('batch/a')), '1');
    assert.equal(await snap.get('batch/b'), null);
    assert.ok(BigInt(commitTs) <= snap.ts, 'the snapshot after the commit sees it');

    const json = JSON.parse(ok(await runCli(['txn', '--json', ...pd], { stdin: '[{"op":"put","key":"batch/d","value":"4"}]' }), 'txn stdin')) as { commitTs: string; startTs: string; writes: number };
    assert.equal(json.writes, 1);
    assert.ok(BigInt(json.commitTs) > BigInt(json.startTs));
    assert.equal(String(await (await client.snapshot()).get('batch/d')), '4');

    // One bad operation refuses the whole batch before anything is written.
    const bad = await runCli(['txn', ...pd], { stdin: '{"op":"put","key":"batch/e","value":"5"}\n{"op":"put","key":"batch/f"}' });
    fails(bad, 2, /operation 2: a put needs a string "value"/, 'txn bad op');
    assert.equal(await (await client.snapshot()).get('batch/e'), null);
    fails(await runCli(['txn', ...pd], { stdin: 'not json' }), 2, /not JSON/, 'txn not json');
    fails(await runCli(['txn', ...pd], { stdin: '' }), 2, /empty/, 'txn empty');
    fails(await runCli(['txn', ...pd], { stdin: '[{"op":"merge","key":"k"}]' }), 2, /"op" must be put, delete or get/, 'txn bad op kind');
    fails(await cli('txn', join(scratch, 'missing.json')), 1, /cannot read .*missing\.json/, 'txn missing file');
  });

  it('tso decodes fresh and given timestamps; gc safepoint shows and only moves forward', async () => {
    const fresh = JSON.parse(ok(await cli('tso', '--json'), 'tso')) as { ts: string; physicalMs: number; logical: number };
    assert.ok(Math.abs(fresh.physicalMs - Date.now()) < 60_000);
    assert.equal(BigInt(fresh.ts), (BigInt(fresh.physicalMs) << 18n) + BigInt(fresh.logical));
    const given = JSON.parse(ok(await runCli(['tso', ((1_700_000_000_000n << 18n) + 5n).toString(), '--json']), 'tso decode, no PD needed')) as { physicalMs: number; logical: number; time: string };
    assert.deepEqual([given.physicalMs, given.logical, given.time], [1_700_000_000_000, 5, '2023-11-14T22:13:20.000Z']);
    fails(await runCli(['tso', 'abc']), 2, /not a u64/, 'tso bad');
    fails(await runCli(['tso', '18446744073709551616']), 2, /not a u64/, 'tso too large');

    const before = JSON.parse(ok(await cli('gc', 'safepoint', '--json'), 'gc safepoint')) as { safePoint: string };
    assert.equal(before.safePoint, '0');
    const target = fresh.ts;
    const set = JSON.parse(ok(await cli('gc', 'safepoint', 'set', target, '--json'), 'gc safepoint set')) as { safePoint: string };
    assert.equal(set.safePoint, target);
    assert.equal((JSON.parse(ok(await cli('gc', 'safepoint', '--json'), 'gc safepoint after')) as { safePoint: string }).safePoint, target);
    fails(await cli('gc', 'safepoint', 'set', '1'), 1, /GcSafePointBackwards/, 'gc safepoint backwards');
  });

  it('config show/set round-trips a value through PD; unknown names and bad values are refused', async () => {
    const config = JSON.parse(ok(await cli('config', 'show', '--json'), 'config show')) as Record<string, unknown>;
    const names = Object.keys(config);
    const limitName = names.find((n) => /leader.?schedule.?limit/i.test(n));
    assert.ok(limitName !== undefined, `config names: ${names.join(', ')}`);
    const current = Number(config[limitName]);
    ok(await cli('config', 'set', limitName, String(current + 1)), 'config set');
    const after = JSON.parse(ok(await cli('config', 'show', '--json'), 'config show after')) as Record<string, unknown>;
    assert.equal(after[limitName], current + 1);
    fails(await cli('config', 'set', 'no-such-setting', '1'), 1, /no-such-setting/, 'config set unknown');
    fails(await cli('config', 'set', limitName, 'lots'), 2, /neither a number nor true\/false/, 'config set bad value');
  });

  it('backup then restore through the CLI brings deleted keys back; a damaged backup is refused in one line', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `bk/${String(i).padStart(4, '0')}`);
    await client.withTransaction(async (txn) => {
      for (const k of keys) txn.put(k, `value of ${k}`);
    });
    await client.raw.put('bk-raw/one', 'raw value');
    const dir = join(scratch, 'backup');
    const manifest = JSON.parse(ok(await cli('backup', dir, '--json', '--no-progress'), 'backup')) as { backupTs: string; totals: { txnKeys: number; rawKeys: number }; files: unknown[] };
    assert.ok(manifest.totals.txnKeys >= keys.length);
    assert.ok(manifest.totals.rawKeys >= 1);
    fails(await cli('backup', dir), 2, /already holds a backup|overwrite/i, 'backup into a finished backup');
    // Lose data, then restore it.
    await client.withTransaction(async (txn) => {
      for (const k of keys.slice(0, 150)) txn.delete(k);
    });
    await client.raw.delete('bk-raw/one');
    const restored = JSON.parse(ok(await cli('restore', dir, '--json'), 'restore')) as { txnKeysWritten: number; rawKeysWritten: number; backupTs: string };
    assert.equal(restored.backupTs, manifest.backupTs);
    const snap = await client.snapshot();
    const values = await snap.batchGet(keys);
    values.forEach((v, i) => assert.equal(String(v), `value of ${keys[i]!}`, keys[i]));
    assert.equal(String(await client.raw.get('bk-raw/one')), 'raw value');
    const text = ok(await cli('restore', dir), 'restore again (idempotent; files already restored are skipped)');
    assert.match(text, /already restored/);
    await writeFile(join(dir, 'manifest.json'), '{"format": "flotilla-backup", "formatVersion": 99}');
    fails(await cli('restore', dir), 2, /version|manifest/i, 'restore of a damaged manifest');
    fails(await cli('restore', join(scratch, 'no-such-backup')), 1, /manifest|no backup|not found/i, 'restore of a missing dir');
  });

  it('operator list is empty; cancelling a missing operator fails with one line', async () => {
    const ops = JSON.parse(ok(await cli('operator', 'list', '--json'), 'operator list')) as { operators: unknown[] };
    assert.deepEqual(ops.operators, []);
    assert.match(ok(await cli('operator', 'list'), 'operator list table'), /no operators in flight/);
    fails(await cli('operator', 'cancel', '424242'), 1, /424242/, 'operator cancel missing');
  });

  it('every command has --help with examples; unknown commands and an unreachable PD are one clear line', async () => {
    for (const id of Object.keys(COMMANDS)) {
      const r = await runCli([...id.split(':'), '--help']);
      const out = ok(r, `${id} --help`);
      assert.match(out, /USAGE/, id);
      assert.match(out, /EXAMPLES/, `${id} --help shows examples`);
    }
    fails(await runCli(['nosuch']), 2, /no command "nosuch"/, 'unknown command');
    fails(await runCli(['store', 'nosuch']), 2, /no command "store nosuch"/, 'unknown subcommand');
    const closed = await freePortBlock(1);
    fails(await runCli(['kv', 'get', 'k', '--pd', `127.0.0.1:${closed}`, '--timeout', '2']), 1, /cannot reach PD at 127\.0\.0\.1:\d+ \(connection refused\)/, 'PD unreachable (data)');
    fails(await runCli(['store', 'list', '--pd', `127.0.0.1:${closed}`, '--timeout', '2']), 1, /cannot reach PD/, 'PD unreachable (admin)');
    fails(await runCli(['store', 'list', '--pd', 'not an endpoint']), 2, /--pd: "not an endpoint" is not host:port/, 'bad --pd');
  });

  it('a second playground on the same ports fails with one line; Ctrl-C stops every process', async () => {
    const other = await mkdtemp(join(tmpdir(), 'flotilla-cli-other-'));
    try {
      const r = await runCli(['playground', '--data-dir', other, '--pd-port', String(pg.ports.pdPort), '--store-port', String(pg.ports.storePort), '--status-port', String(pg.ports.statusPort)]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^flotilla: port ${pg.ports.pdPort} on 127\\.0\\.0\\.1 is already in use`, 'm'));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
    const info = await pg.info();
    assert.equal(await pg.stop(), 0, 'the playground exits 0 on Ctrl-C');
    for (const pid of [...info.pdMembers.map((p) => p.pid), ...info.stores.map((s) => s.pid)]) assert.equal(processAlive(pid), false, `pid ${pid} stopped`);
  });
});

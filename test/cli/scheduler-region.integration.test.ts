// `flotilla scheduler list|add|remove` and `flotilla region split|merge|transfer-leader|add-peer|
// remove-peer|scatter` (issue F7) run as the user runs them, against a real flotilla-pd with three
// registered stores and three regions (a, b on store 1; c on store 2): tables and --json, the
// operators they create as PD lists them, and one-line typed errors with exit code 1 for what PD
// refuses (unknown scheduler, region or store, non-adjacent merge, key outside the region) and 2
// for a bad invocation (malformed id or name).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapThreeRegions, httpJson, PdTestCluster } from '../support/pd-cluster.js';
import { runCli, type CliResult } from '../support/cli.js';

describe('flotilla scheduler and region admin commands against a PD', { timeout: 300_000 }, () => {
  let cluster: PdTestCluster;
  let ids: { a: number; b: number; c: number };
  let pdFlag: string[];

  before(async () => {
    cluster = await PdTestCluster.start(1);
    ids = await bootstrapThreeRegions(cluster.client('pd1'));
    pdFlag = ['--pd', `127.0.0.1:${cluster.spec('pd1').clientPort}`];
  });
  after(async () => cluster?.close());

  const cli = (...args: string[]): Promise<CliResult> => runCli([...args, ...pdFlag]);
  const ok = (r: CliResult, what: string): string => {
    assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr ${r.stderr}`);
    return r.stdout;
  };
  const fails = (r: CliResult, code: number, text: RegExp, what: string): void => {
    assert.equal(r.code, code, `${what}: exit ${r.code}, stdout ${r.stdout}, stderr ${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    assert.equal(lines.length, 1, `${what}: one error line, got ${JSON.stringify(r.stderr)}`);
    assert.match(lines[0]!, /^flotilla: /);
    assert.match(lines[0]!, text, what);
  };
  const cancel = async (regionId: number): Promise<void> => {
    const r = await httpJson(cluster.httpUrl('pd1', `operators/${regionId}`), { method: 'DELETE' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };

  it('scheduler list shows all five on; remove and add switch one; unknown names fail in one line', async () => {
    const list = JSON.parse(ok(await cli('scheduler', 'list', '--json'), 'scheduler list --json')) as { schedulers: { name: string; isEnabled: boolean }[] };
    assert.deepEqual(list.schedulers.map((s) => [s.name, s.isEnabled]).sort(), [['balance-leader', true], ['balance-region', true], ['hot-region', true], ['merge-checker', true], ['replica-checker', true]]);
    const off = ok(await cli('scheduler', 'remove', 'hot-region'), 'scheduler remove');
    assert.match(off, /state:\s+off/);
    const table = ok(await cli('scheduler', 'list'), 'scheduler list');
    assert.match(table, /^NAME\s+STATE\s+KIND/m);
    assert.match(table, /^hot-region\s+off\s+hotRegion/m);
    assert.match(table, /^replica-checker\s+on\s+region/m);
    const on = JSON.parse(ok(await cli('scheduler', 'add', 'hot-region', '--json'), 'scheduler add --json')) as { name: string; isEnabled: boolean };
    assert.deepEqual([on.name, on.isEnabled], ['hot-region', true]);
    fails(await cli('scheduler', 'remove', 'no-such'), 1, /no scheduler named "no-such".*replica-checker.*\[SchedulerNotFound\]/, 'scheduler remove unknown');
    fails(await cli('scheduler', 'add', 'Bad_Name'), 2, /scheduler name/, 'scheduler add malformed');
    fails(await cli('scheduler', 'add'), 2, /name/i, 'scheduler add without a name');
  });

  it('region merge creates a merge operator; non-adjacent, other-store and unknown regions fail in one line', async () => {
    const text = ok(await cli('region', 'merge', String(ids.a), String(ids.b)), 'region merge');
    assert.match(text, new RegExp(`region:\\s+${ids.a}`));
    assert.match(text, new RegExp(`merge into region ${ids.b}`));
    const ops = JSON.parse(ok(await cli('operator', 'list', '--json'), 'operator list')) as { operators: { regionId: number; steps: { kind: string }[] }[] };
    assert.deepEqual(ops.operators.map((o) => [o.regionId, o.steps.map((s) => s.kind)]), [[ids.a, ['merge']]]);
    fails(await cli('region', 'merge', String(ids.b), String(ids.c)), 1, /not on the same stores.*\[InvalidArgument\]/, 'merge across stores');
    await cancel(ids.a);
    fails(await cli('region', 'merge', String(ids.a), String(ids.c)), 1, /not adjacent.*\[InvalidArgument\]/, 'merge non-adjacent');
    fails(await cli('region', 'merge', String(ids.a), '424242'), 1, /424242.*\[RegionNotFound\]/, 'merge into unknown');
    fails(await cli('region', 'merge', 'x', String(ids.b)), 2, /not a positive integer/, 'merge with a malformed id');
  });

  it('region split --at takes keys in every encoding; a key outside the region fails', async () => {
    fails(await cli('region', 'split', String(ids.b), '--at', 'p', '--hex'), 2, /hex/i, 'a key that is not hex under --hex');
    const hexOnly = JSON.parse(ok(await cli('region', 'split', String(ids.b), '--at', '70', '--hex', '--json'), 'region split --hex')) as { steps: { keys: string[] }[] };
    assert.deepEqual(hexOnly.steps[0]!.keys, ['70']);
    await cancel(ids.b);
    const text = ok(await cli('region', 'split', String(ids.b), '--at', 'p', '--at', 'q'), 'region split utf-8');
    assert.match(text, /split at "p", "q"/);
    await cancel(ids.b);
    fails(await cli('region', 'split', String(ids.a), '--at', 'z'), 1, /not inside region.*\[InvalidArgument\]/, 'split outside the region');
    fails(await cli('region', 'split', String(ids.a), '--at', 'zz', '--base64', '--hex'), 2, /cannot also be provided|exclusive|--hex/i, 'split with two encodings');
  });

  it('region transfer-leader, add-peer, remove-peer and scatter go through PD; bad stores and regions fail in one line', async () => {
    const add = JSON.parse(ok(await cli('region', 'add-peer', String(ids.a), '2', '--json'), 'region add-peer')) as { steps: { kind: string; peer: { storeId: number; role: string } }[] };
    assert.deepEqual(add.steps.map((s) => [s.kind, s.peer.storeId]), [['addPeer', 2], ['promoteLearner', 2]]);
    fails(await cli('region', 'remove-peer', String(ids.a), '1'), 1, /already has an operator|\[Conflict\]/, 'a second operator on the region');
    await cancel(ids.a);
    fails(await cli('region', 'add-peer', String(ids.a), '9999'), 1, /store 9999.*\[StoreNotFound\]/, 'add-peer to an unknown store');
    fails(await cli('region', 'add-peer', String(ids.a), '1'), 1, /already has a peer/, 'add-peer where it has one');
    fails(await cli('region', 'remove-peer', String(ids.a), '9999'), 1, /no peer on store 9999/, 'remove-peer of a missing peer');
    fails(await cli('region', 'remove-peer', String(ids.a), '1'), 1, /only voter/, 'remove-peer of the only voter');
    fails(await cli('region', 'transfer-leader', String(ids.a), '3'), 1, /no peer on store 3/, 'transfer-leader to a store without a peer');
    fails(await cli('region', 'transfer-leader', String(ids.a), '0'), 2, /not a positive integer/, 'transfer-leader to store 0');
    fails(await cli('region', 'scatter', '424242'), 1, /\[RegionNotFound\]/, 'scatter an unknown region');
    fails(await cli('region', 'scatter', String(ids.c)), 1, /no known leader/, 'scatter a region without a leader');
    const pending = JSON.parse(ok(await cli('operator', 'list', '--json'), 'operator list')) as { operators: unknown[] };
    assert.deepEqual(pending.operators, [], 'a refused command left an operator');
  });
});

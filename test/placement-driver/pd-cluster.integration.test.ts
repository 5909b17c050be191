// Three real flotilla-pd processes: one serving leader; followers redirect; ids stay unique and
// timestamps strictly increasing while the leader is killed again and again; all members restart
// from disk with state intact; a member is added and removed through the HTTP API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../deploy/index.js';
import { httpJson, PdTestCluster, tsOf, type PdTestClient } from '../support/pd-cluster.js';

async function leaderClient(cluster: PdTestCluster): Promise<{ name: string; client: PdTestClient }> {
  const name = await cluster.waitForLeader();
  const client = cluster.client(name);
  await client.members();
  return { name, client };
}

/** Kills the leader with SIGKILL, waits for another member to lead, then restarts the old one. */
async function killLeader(cluster: PdTestCluster): Promise<{ killed: string; next: string }> {
  const killed = await cluster.waitForLeader();
  await cluster.processes.get(killed)!.kill();
  const next = await cluster.waitForLeader();
  assert.notEqual(next, killed);
  await cluster.startMember(killed);
  return { killed, next };
}

describe('PD, three members (real processes)', () => {
  let cluster: PdTestCluster;

  before(async () => {
    cluster = await PdTestCluster.start(3);
  });
  after(async () => cluster?.close());

  it('has one serving leader; followers answer PD_NOT_LEADER naming it', async () => {
    const { name: leader, client } = await leaderClient(cluster);
    const members = await client.members();
    assert.equal(members.members.length, 3);
    assert.equal(members.leader?.name, leader);
    const follower = cluster.members.map((m) => m.name).find((n) => n !== leader)!;
    const fc = cluster.client(follower);
    // A follower learns the leader from its next append or heartbeat: under load that can trail
    // the leader's own view, so wait until it names someone, then it must name the leader.
    // Its client URL arrives when the leader's self-report is applied there.
    const fm = await waitFor('a follower that knows the leader and its client URL', async () => {
      const m = await fc.members();
      return (m.leader?.name ?? '') === '' || m.leader?.clientUrls.length === 0 ? undefined : m;
    });
    assert.equal(fm.leader?.name, leader, 'a follower names the leader too');
    const refused = await fc.allocId();
    assert.equal(refused.header?.error?.code, 'PD_NOT_LEADER');
    assert.match(refused.header?.error?.message ?? '', new RegExp(leader));
    // The leader travels structured (issue 17), not only in the text.
    const spec = cluster.spec(leader);
    assert.equal(refused.header?.error?.pdLeader?.name, leader);
    assert.equal(refused.header?.error?.pdLeader?.memberId, members.leader?.memberId);
    assert.deepEqual(refused.header?.error?.pdLeader?.clientUrls, [`http://127.0.0.1:${spec.clientPort}`]);
    const http = await httpJson(cluster.httpUrl(follower, 'stores'));
    assert.equal(http.status, 503);
    const body = http.body as { code: string; leader?: { name: string; memberId: number; clientUrls: string[] } };
    assert.equal(body.code, 'PdNotLeader');
    assert.equal(body.leader?.name, leader);
    assert.deepEqual(body.leader?.clientUrls, [`http://127.0.0.1:${spec.clientPort}`]);
  });

  it('allocates unique ids across a leader failover', async () => {
    const seen = new Set<string>();
    let maxBefore = 0n;
    for (let round = 0; round < 2; round++) {
      const { client } = await leaderClient(cluster);
      const ids = await Promise.all(Array.from({ length: 100 }, () => client.allocId()));
      for (const r of ids) {
        assert.equal(r.header?.error, null);
        assert.ok(!seen.has(r.id), `id ${r.id} issued twice`);
        seen.add(r.id);
        if (round === 1) assert.ok(BigInt(r.id) > maxBefore, 'ids after failover are above all earlier ones');
      }
      if (round === 0) {
        maxBefore = ids.reduce((m, r) => (BigInt(r.id) > m ? BigInt(r.id) : m), 0n);
        await killLeader(cluster);
      }
    }
    assert.equal(seen.size, 200);
  });

  it('keeps timestamps strictly increasing per client and unique overall while the leader is killed repeatedly', async () => {
    const perClient: bigint[][] = [[], []];
    let stop = false;
    const worker = async (i: number): Promise<void> => {
      let stream: ReturnType<PdTestClient['tsoStream']> | null = null;
      while (!stop) {
        try {
          if (stream === null) stream = (await leaderClient(cluster)).client.tsoStream();
          const r = await stream.next(8);
          if (r.header?.error !== null && r.header?.error !== undefined) {
            stream.close();
            stream = null;
            continue;
          }
          const last = tsOf(r);
          for (let t = last - 7n; t <= last; t++) perClient[i]!.push(t);
        } catch {
          stream?.close();
          stream = null; // the member died mid-request: find the new leader
        }
      }
      stream?.close();
    };
    const workers = [worker(0), worker(1)];
    const leaders = new Set<string>();
    try {
      for (let kill = 0; kill < 3; kill++) {
        const base = perClient[0]!.length + perClient[1]!.length;
        await waitFor('timestamps flowing', () => (perClient[0]!.length + perClient[1]!.length > base + 800 ? true : undefined), { timeoutMs: 30_000 });
        const { killed, next } = await killLeader(cluster);
        leaders.add(killed);
        leaders.add(next);
      }
      const base = perClient[0]!.length + perClient[1]!.length;
      await waitFor('timestamps after the last failover', () => (perClient[0]!.length + perClient[1]!.length > base + 800 ? true : undefined), { timeoutMs: 30_000 });
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    assert.ok(leaders.size >= 2, 'leadership really moved');
    const all = new Set<bigint>();
    for (const seq of perClient) {
      assert.ok(seq.length > 1000, `a client got ${seq.length} timestamps: too few to prove anything`);
      for (let j = 1; j < seq.length; j++) assert.ok(seq[j]! > seq[j - 1]!, `client saw ${seq[j]} after ${seq[j - 1]}`);
      for (const t of seq) {
        assert.ok(!all.has(t), `timestamp ${t} issued twice`);
        all.add(t);
      }
    }
  });

  it('a leader frozen past its lease (SIGSTOP) serves no stale timestamp when it wakes', async () => {
    const { name: oldLeader, client: oldClient } = await leaderClient(cluster);
    const oldStream = oldClient.tsoStream();
    try {
      assert.equal((await oldStream.next(1)).header?.error, null);
      const proc = cluster.processes.get(oldLeader)!;
      proc.pause();
      let newest = 0n;
      try {
        const next = await waitFor('a new leader while the old one is frozen', async () => {
          const names = cluster.members.map((m) => m.name).filter((n) => n !== oldLeader);
          const healths = await Promise.all(names.map((n) => cluster.health(n)));
          return names.find((_, i) => healths[i]?.serving === true);
        });
        const fresh = cluster.client(next);
        await fresh.members();
        const stream = fresh.tsoStream();
        try {
          for (let i = 0; i < 50; i++) {
            const r = await stream.next(10);
            if (r.header?.error === null) newest = tsOf(r);
          }
        } finally {
          stream.close();
        }
        assert.ok(newest > 0n, 'the new leader served timestamps');
      } finally {
        // Queue a request on the frozen leader's stream, then wake it: it must not answer from its old lease.
        const pending = oldStream.next(1);
        proc.resume();
        const r = await pending.catch(() => null);
        if (r !== null && r.header?.error === null) assert.ok(tsOf(r) > newest, `woken leader issued ${tsOf(r)} after the new leader's ${newest}`);
      }
    } finally {
      oldStream.close();
    }
    await cluster.waitForLeader();
  });

  it('restarts every member from disk with state intact', async () => {
    const { client } = await leaderClient(cluster);
    const clusterId = client.clusterId;
    const set = await client.call('UpdateGCSafePoint', { header: client.header(), safePoint: '4242' });
    assert.equal(set.newSafePoint, '4242');
    const idBefore = BigInt((await client.allocId()).id);
    await Promise.all([...cluster.processes.values()].map((p) => p.kill()));
    for (const m of cluster.members) await cluster.startMember(m.name);
    const { client: again } = await leaderClient(cluster);
    assert.equal(again.clusterId, clusterId);
    const gc = await again.call('GetGCSafePoint', { header: again.header() });
    assert.equal(gc.safePoint, '4242');
    assert.ok(BigInt((await again.allocId()).id) > idBefore);
  });

  it('adds a member and removes it again', async () => {
    const { name: leader } = await leaderClient(cluster);
    const pd4 = await cluster.addMemberSpec('pd4');
    const add = await httpJson(cluster.httpUrl(leader, 'members'), {
      method: 'POST',
      body: JSON.stringify({ name: 'pd4', peerUrls: [`127.0.0.1:${pd4.peerPort}`], clientUrls: [`127.0.0.1:${pd4.clientPort}`] }),
    });
    assert.equal(add.status, 201, JSON.stringify(add.body));
    await cluster.startMember('pd4', 'existing');
    // pd4 catches up (by snapshot and log) and applies what the leader has.
    await waitFor('pd4 caught up', async () => {
      const [l, n] = await Promise.all([cluster.health(await cluster.waitForLeader()), cluster.health('pd4')]);
      return l !== undefined && n !== undefined && n.appliedIndex >= l.appliedIndex - 2 && n.appliedIndex > 1 ? true : undefined;
    }).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await cluster.logTails(25)}`);
    });
    const members = await cluster.client('pd4').members();
    assert.deepEqual(members.members.map((m) => m.name).sort(), ['pd1', 'pd2', 'pd3', 'pd4']);
    assert.notEqual(members.leader, null);

    const current = await cluster.waitForLeader();
    const del = await httpJson(cluster.httpUrl(current, 'members/name/pd4'), { method: 'DELETE' });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await waitFor('pd4 gone from the member list', async () => {
      const m = await (await leaderClient(cluster)).client.members();
      return m.members.length === 3 && !m.members.some((x) => x.name === 'pd4') ? true : undefined;
    });
    await cluster.processes.get('pd4')!.kill();
    // The remaining three still serve.
    const { client } = await leaderClient(cluster);
    assert.equal((await client.allocId()).header?.error, null);

    // The leader removes itself: it steps down, and the member list the other two agree on no
    // longer names it (the conf change's own entry drops it; no later proposal is needed).
    const old = await cluster.waitForLeader();
    const selfDel = await httpJson(cluster.httpUrl(old, `members/name/${old}`), { method: 'DELETE' });
    assert.equal(selfDel.status, 200, JSON.stringify(selfDel.body));
    await cluster.processes.get(old)!.kill();
    const rest = ['pd1', 'pd2', 'pd3'].filter((n) => n !== old);
    await waitFor('the other two list only themselves', async () => {
      const lists = await Promise.all(rest.map(async (n) => (await cluster.client(n).members().catch(() => undefined))?.members.map((m) => m.name).sort()));
      return lists.every((l) => l !== undefined && JSON.stringify(l) === JSON.stringify(rest)) ? true : undefined;
    }).catch(async (err: unknown) => {
      const lists = await Promise.all(rest.map(async (n) => JSON.stringify(await cluster.client(n).members().catch((e: unknown) => String(e)))));
      throw new Error(`${String(err)}\nmember lists: ${lists.join(' | ')}\n${await cluster.logTails(40)}`);
    });
    const next = await leaderClient(cluster);
    assert.ok(rest.includes(next.name));
    assert.equal((await next.client.allocId()).header?.error, null);
  });
});

// PdSession against fake PD members (real gRPC servers on 127.0.0.1:0, in process), judged by the
// contract in pd-session.ts's file comment: a PdNotLeader hint naming another member is followed at
// once, at most PD_HINT_FOLLOWS_MAX times in a row, then the call backs off; a hint naming the
// member itself, or a ServerIsBusy, backs off on the same leader; Unavailable, a hintless
// PdNotLeader and a frozen leader make the session forget it and discover (one GetMembers round
// shared by every caller); every request names the cluster id and an answer or a member of another
// cluster is refused at once (ClusterIdMismatch, never retried); every attempt has a deadline capped
// by what is left of the call's, back-off never overruns the call's deadline, and the deadline's
// error is the last error's code; after close() nothing waits.
//
// Back-offs are counted, not timed: the session draws its jitter from the injected Rng, one draw per
// back-off (Backoff.next), so "the draws so far when a member got its request" tells a retry at once
// from one after a back-off.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createLogger,
  createRng,
  FlotillaError,
  isFlotillaError,
  PD_ATTEMPT_TIMEOUT_MS_MAX,
  PD_HINT_FOLLOWS_MAX,
  PdSession,
  type grpc,
  type PdSessionOptions,
  type Rng,
} from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import type { errorpb, pdpb } from '../../proto/index.js';
import { FakePd } from '../support/fake-pd.js';

const CLUSTER = '7';

/** An Rng that counts its draws (every method), so a test can count the session's back-offs. */
function countingRng(): { readonly rng: Rng; draws: () => number } {
  const inner = createRng(20261204);
  let n = 0;
  const count = <T>(v: T): T => {
    n++;
    return v;
  };
  const rng: Rng = {
    nextU32: () => count(inner.nextU32()),
    nextInt: (max) => count(inner.nextInt(max)),
    nextRange: (min, max) => count(inner.nextRange(min, max)),
    nextFloat: () => count(inner.nextFloat()),
    chance: (p) => count(inner.chance(p)),
    fork: () => count(inner.fork()),
  };
  return { rng, draws: () => n };
}

interface AllocSeen {
  readonly clusterId: string;
  /** The attempt's deadline as the server got it (ms since the epoch; Infinity for none). */
  readonly deadlineMs: number;
  /** Rng draws (back-offs) the session had made when this request arrived. */
  readonly drawsBefore: number;
}

/** What a member does with an AllocID: answer it, or never (a frozen leader). */
type AllocAnswer = pdpb.AllocIDResponse__Input | 'hang';

/** One fake PD member: GetMembers and AllocID as the test sets them, both counted. */
class Member {
  getMembersCalls = 0;
  readonly allocs: AllocSeen[] = [];
  /** GetMembers' answer; default: this member leads. */
  members: () => pdpb.GetMembersResponse__Input = () => membersList([this.address], this.address);
  /** AllocID's answer for the n-th request (0-based); default: an id naming the member. */
  alloc: (n: number) => AllocAnswer = () => ({ header: { clusterId: CLUSTER }, id: String(this.id) });
  /** Set: GetMembers answers wait until it is released. */
  private held: (() => void)[] | null = null;
  private fake!: FakePd;
  private closed = false;

  private constructor(
    readonly id: number,
    private readonly draws: () => number,
  ) {}

  static async start(id: number, draws: () => number = () => 0): Promise<Member> {
    const m = new Member(id, draws);
    m.fake = await FakePd.start({
      GetMembers: (_call: grpc.ServerUnaryCall<pdpb.GetMembersRequest, pdpb.GetMembersResponse__Input>, cb: grpc.sendUnaryData<pdpb.GetMembersResponse__Input>) => {
        m.getMembersCalls++;
        const answer = (): void => cb(null, m.members());
        if (m.held === null) answer();
        else m.held.push(answer);
      },
      AllocID: (call: grpc.ServerUnaryCall<pdpb.AllocIDRequest, pdpb.AllocIDResponse__Input>, cb: grpc.sendUnaryData<pdpb.AllocIDResponse__Input>) => {
        const deadline = call.getDeadline();
        const n = m.allocs.length;
        m.allocs.push({ clusterId: call.request.header?.clusterId ?? '', deadlineMs: deadline instanceof Date ? deadline.getTime() : deadline, drawsBefore: m.draws() });
        const answer = m.alloc(n);
        if (answer !== 'hang') cb(null, answer);
      },
    });
    return m;
  }

  get address(): string {
    return this.fake.address;
  }

  holdGetMembers(): void {
    this.held = [];
  }

  releaseGetMembers(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const answer of held) answer();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.releaseGetMembers();
    await this.fake.close();
  }
}

function pdMember(address: string): pdpb.Member__Input {
  const port = Number(address.split(':').pop());
  return { name: `pd-${port}`, memberId: String(port), clientUrls: [`http://${address}`], peerUrls: [`http://${address}`], statusUrl: '' };
}

function membersList(addresses: readonly string[], leader: string | null, clusterId = CLUSTER): pdpb.GetMembersResponse__Input {
  return { header: { clusterId }, members: addresses.map(pdMember), leader: leader === null ? null : pdMember(leader) };
}

function headerError(error: errorpb.Error__Input): pdpb.AllocIDResponse__Input {
  return { header: { clusterId: CLUSTER, error } };
}

/** PdNotLeader naming `leader` (a member's client address), or no one. */
function notLeader(leader: string | null): pdpb.AllocIDResponse__Input {
  const pdLeader = leader === null ? null : { memberId: '9', name: 'the-leader', clientUrls: [`http://${leader}`], statusUrl: '' };
  return headerError({ code: 'PD_NOT_LEADER', message: 'not the leader', pdLeader });
}

function busy(backoffMs: number): pdpb.AllocIDResponse__Input {
  return headerError({ code: 'SERVER_IS_BUSY', message: 'busy', backoffMs: String(backoffMs) });
}

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly err: unknown };

/** How `p` settled, failing the test if it has not within `ms` (a bound far past what the code promises). */
async function settledWithin<T>(p: Promise<T>, ms: number, what: string): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    const r = await Promise.race([p.then((value): Settled<T> => ({ ok: true, value }), (err: unknown): Settled<T> => ({ ok: false, err })), late]);
    if (r === 'late') assert.fail(`${what}: not settled within ${ms} ms`);
    return r;
  } finally {
    clearTimeout(timer);
  }
}

function rejectedWith<T>(r: Settled<T>, code: FlotillaError['code']): FlotillaError {
  assert.ok(!r.ok, `expected ${code}, got an answer ${JSON.stringify(r.ok ? r.value : null)}`);
  assert.ok(isFlotillaError(r.err, code), `expected ${code}, got ${String(r.err)}`);
  return r.err;
}

async function connect(endpoints: readonly Member[], options: Partial<PdSessionOptions> = {}): Promise<PdSession> {
  return PdSession.connect({ endpoints: endpoints.map((m) => m.address), logger: createLogger({ level: 'silent' }), connectTimeoutMs: 10_000, ...options });
}

/** Runs `body` with a session connected to `endpoints`, closed after — also when it fails. */
async function withSession(endpoints: readonly Member[], options: Partial<PdSessionOptions>, body: (session: PdSession) => Promise<void>): Promise<void> {
  const session = await connect(endpoints, options);
  try {
    await body(session);
  } finally {
    session.close();
  }
}

/** Runs `body` with `count` fake members, closing them after — also when it fails. */
async function withMembers(count: number, body: (members: Member[], c: { draws: () => number; rng: Rng }) => Promise<void>): Promise<void> {
  const { rng, draws } = countingRng();
  const members: Member[] = [];
  try {
    for (let i = 1; i <= count; i++) members.push(await Member.start(i, draws));
    await body(members, { draws, rng });
  } finally {
    for (const m of members) await m.close();
  }
}

describe('PdSession against fake PD members', () => {
  it('a hint naming another member is followed at once, with no GetMembers, and every request names the cluster id', async () => {
    await withMembers(2, async ([a, b], { rng }) => {
      await withSession([a!], { rng }, async (session) => {
        a!.alloc = () => notLeader(b!.address);
        const discoveriesBefore = a!.getMembersCalls + b!.getMembersCalls;
        const resp = await session.unary('AllocID', {});
        assert.equal(String(resp.id), '2');
        assert.equal(session.leaderAddress, b!.address);
        assert.equal(a!.getMembersCalls + b!.getMembersCalls, discoveriesBefore, 'the hint was followed without GetMembers');
        assert.equal(b!.allocs[0]!.drawsBefore, 0, 'no back-off before following the hint');
        assert.deepEqual([...a!.allocs, ...b!.allocs].map((s) => s.clusterId), [CLUSTER, CLUSTER]);
      });
    });
  });

  it(`follows ${PD_HINT_FOLLOWS_MAX} hints in a row at once, then backs off before the next`, async () => {
    const chain = PD_HINT_FOLLOWS_MAX + 2;
    await withMembers(chain, async (members, { rng, draws }) => {
      await withSession([members[0]!], { rng }, async (session) => {
        // Each member names the next as the leader; the last one serves.
        members.forEach((m, i) => {
          const next = members[i + 1];
          if (next !== undefined) m.alloc = () => notLeader(next.address);
        });
        const resp = await session.unary('AllocID', {}, { deadlineMs: Date.now() + 10_000 });
        assert.equal(String(resp.id), String(chain));
        // Member 0 is the known leader; members 1..MAX are reached by hints followed at once; the
        // member the (MAX+1)-th hint names is tried only after a back-off.
        assert.deepEqual(
          members.map((m) => m.allocs[0]?.drawsBefore),
          members.map((_, i) => (i <= PD_HINT_FOLLOWS_MAX ? 0 : 1)),
        );
        assert.ok(draws() >= 1);
      });
    });
  });

  it('a hint naming the member itself (a raft leader not serving yet) backs off and retries the same member', async () => {
    await withMembers(2, async ([a, b], { rng }) => {
      await withSession([a!, b!], { rng }, async (session) => {
        a!.alloc = (n) => (n < 2 ? notLeader(a!.address) : { header: { clusterId: CLUSTER }, id: '1' });
        const resp = await session.unary('AllocID', {}, { deadlineMs: Date.now() + 10_000 });
        assert.equal(String(resp.id), '1');
        assert.deepEqual(
          a!.allocs.map((s) => s.drawsBefore),
          [0, 1, 2],
          'each retry on the same member came after a back-off',
        );
        assert.equal(b!.allocs.length, 0);
        const leader = await session.leaderClient();
        assert.equal(session.reportFailure(leader, new FlotillaError('PdNotLeader', 'not serving yet', { details: { leader: { memberId: 1, name: 'a', clientUrls: [`http://${a!.address}`], statusUrl: '' } } })), 'keptLeader');
        assert.equal(await session.leaderClient(), leader);
      });
    });
  });

  it('an unreachable leader is forgotten: the call finds the new one with GetMembers', async () => {
    await withMembers(2, async ([a, b]) => {
      await withSession([a!, b!], {}, async (session) => {
        assert.equal(session.leaderAddress, a!.address);
        b!.members = () => membersList([a!.address, b!.address], b!.address);
        await a!.close();
        const resp = await session.unary('AllocID', {}, { deadlineMs: Date.now() + 5_000 });
        assert.equal(String(resp.id), '2');
        assert.equal(session.leaderAddress, b!.address);
      });
    });
  });

  it('a PdNotLeader without a hint is forgotten too: GetMembers names the new leader', async () => {
    await withMembers(2, async ([a, b]) => {
      await withSession([a!, b!], {}, async (session) => {
        a!.alloc = () => notLeader(null);
        a!.members = () => membersList([a!.address, b!.address], b!.address);
        b!.members = a!.members;
        const resp = await session.unary('AllocID', {}, { deadlineMs: Date.now() + 5_000 });
        assert.equal(String(resp.id), '2');
        assert.equal(a!.allocs.length, 1);
      });
    });
  });

  it('a frozen leader costs one attempt deadline (at most PD_ATTEMPT_TIMEOUT_MS_MAX), then the session looks for another', async () => {
    await withMembers(2, async ([a, b]) => {
      await withSession([a!, b!], {}, async (session) => {
        a!.alloc = () => 'hang';
        a!.members = () => membersList([a!.address, b!.address], b!.address);
        b!.members = a!.members;
        const startMs = Date.now();
        const resp = await session.unary('AllocID', {}, { deadlineMs: startMs + 30_000 });
        assert.equal(String(resp.id), '2');
        assert.equal(a!.allocs.length, 1);
        // The server's deadline is the client's plus the request's trip: generous slack.
        assert.ok(a!.allocs[0]!.deadlineMs <= startMs + PD_ATTEMPT_TIMEOUT_MS_MAX + 1_000, `attempt deadline ${a!.allocs[0]!.deadlineMs - startMs} ms after the start`);
      });
    });
  });

  it("an attempt's deadline is capped by what is left of the call's", async () => {
    await withMembers(1, async ([a]) => {
      await withSession([a!], {}, async (session) => {
        a!.alloc = () => 'hang';
        // Long enough for the attempt to reach the member on a loaded machine, short enough that an
        // uncapped attempt deadline (PD_ATTEMPT_TIMEOUT_MS_MAX) would show past the slack below.
        const deadlineMs = Date.now() + 800;
        const r = await settledWithin(session.unary('AllocID', {}, { deadlineMs }), 10_000, 'AllocID on a frozen leader');
        rejectedWith(r, 'DeadlineExceeded');
        assert.equal(a!.allocs.length, 1);
        assert.ok(PD_ATTEMPT_TIMEOUT_MS_MAX > 800 + 600);
        assert.ok(a!.allocs[0]!.deadlineMs <= deadlineMs + 600, `the attempt's deadline is ${a!.allocs[0]!.deadlineMs - deadlineMs} ms past the call's`);
      });
    });
  });

  it("a ServerIsBusy back-off that would pass the call's deadline ends the call at once, as ServerIsBusy", async () => {
    await withMembers(1, async ([a]) => {
      await withSession([a!], {}, async (session) => {
        a!.alloc = () => busy(60_000);
        const r = await settledWithin(session.unary('AllocID', {}, { deadlineMs: Date.now() + 1_000 }), 10_000, 'AllocID on a busy leader');
        rejectedWith(r, 'ServerIsBusy');
        assert.equal(a!.allocs.length, 1, 'no retry: the back-off PD asked for is past the deadline');
      });
    });
  });

  it("the call's deadline ends it with the last error's code, after retries on the same leader", async () => {
    await withMembers(1, async ([a]) => {
      await withSession([a!], {}, async (session) => {
        a!.alloc = () => busy(0);
        // Room for two round trips and a back-off however loaded the machine (was 400 ms: a flake).
        const r = await settledWithin(session.unary('AllocID', {}, { deadlineMs: Date.now() + 2_000 }), 10_000, 'AllocID on a busy leader');
        // The last attempt's error, as the code: ServerIsBusy — or, when the last attempt was still
        // in flight as the call's deadline came (a loaded machine: its deadline is the call's), that
        // attempt's DeadlineExceeded, whose outcome is unknown: never reported as "not done".
        assert.ok(!r.ok, 'AllocID on a busy leader was answered');
        if (isFlotillaError(r.err, 'DeadlineExceeded')) assert.match(r.err.message, /\(last: PD AllocID: .*DEADLINE_EXCEEDED/, 'a deadline from the last attempt');
        else rejectedWith(r, 'ServerIsBusy');
        assert.ok(a!.allocs.length >= 2, `${a!.allocs.length} attempts`);
      });
    });
  });

  it('callers waiting for a leader share one discovery', async () => {
    await withMembers(1, async ([a]) => {
      await withSession([a!], {}, async (session) => {
        const leader = await session.leaderClient();
        assert.equal(session.reportFailure(leader, new FlotillaError('Unavailable', 'connection refused')), 'forgotLeader');
        a!.getMembersCalls = 0;
        a!.holdGetMembers();
        const first = session.leaderClient(Date.now() + 10_000);
        await waitFor('the discovery reaches the member', () => (a!.getMembersCalls > 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 5 });
        const others = [1, 2, 3, 4].map(() => session.leaderClient(Date.now() + 10_000));
        a!.releaseGetMembers();
        const found = await Promise.all([first, ...others]);
        assert.equal(a!.getMembersCalls, 1);
        for (const l of found) assert.equal(l, found[0]);
        assert.equal(found[0].address, a!.address);
      });
    });
  });

  it('an answer from another cluster is refused at once, not retried', async () => {
    await withMembers(1, async ([a]) => {
      await withSession([a!], {}, async (session) => {
        a!.alloc = () => ({ header: { clusterId: '8' }, id: '5' });
        const r = await settledWithin(session.unary('AllocID', {}, { deadlineMs: Date.now() + 2_000 }), 10_000, 'AllocID answered by another cluster');
        rejectedWith(r, 'ClusterIdMismatch');
        assert.equal(a!.allocs.length, 1);
        assert.equal(a!.allocs[0]!.clusterId, CLUSTER);
      });
    });
  });

  it('connect refuses a PD of another cluster at once (ClusterIdMismatch, one GetMembers)', async () => {
    await withMembers(1, async ([a]) => {
      a!.members = () => membersList([a!.address], a!.address, '8');
      const r = await settledWithin(connect([a!], { expectedClusterId: 7n, connectTimeoutMs: 3_000 }), 10_000, 'connect');
      if (r.ok) r.value.close();
      rejectedWith(r, 'ClusterIdMismatch');
      assert.equal(a!.getMembersCalls, 1);
    });
  });

  it('close() ends a call backing off at once', async () => {
    await withMembers(1, async ([a]) => {
      const lines: string[] = [];
      await withSession([a!], { logger: createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } }) }, async (session) => {
        a!.alloc = () => busy(30_000);
        const call = session.unary('AllocID', {}, { deadlineMs: Date.now() + 60_000 });
        call.catch(() => undefined);
        await waitFor('the call backs off', () => (lines.some((l) => l.includes('PD call retried')) ? true : undefined), { timeoutMs: 10_000, intervalMs: 5 });
        session.close();
        rejectedWith(await settledWithin(call, 5_000, 'a call backing off after close()'), 'Unavailable');
      });
    });
  });

  it('close() cancels a call in flight, long before its attempt deadline', async () => {
    await withMembers(1, async ([a]) => {
      await withSession([a!], {}, async (session) => {
        a!.alloc = () => 'hang';
        const call = session.unary('AllocID', {}, { deadlineMs: Date.now() + 60_000 });
        call.catch(() => undefined);
        await waitFor('the request reaches the member', () => (a!.allocs.length > 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 5 });
        session.close();
        rejectedWith(await settledWithin(call, 10_000, 'a call in flight after close()'), 'Unavailable');
        const leftMs = a!.allocs[0]!.deadlineMs - Date.now();
        assert.ok(leftMs > 500, `ended ${leftMs} ms before its attempt deadline: it should end by close(), not by the deadline`);
      });
    });
  });

  it('after close() calls and leader lookups fail at once with Unavailable', async () => {
    await withMembers(1, async ([a]) => {
      const session = await connect([a!]);
      session.close();
      session.close();
      assert.ok(session.isClosed);
      rejectedWith(await settledWithin(session.unary('AllocID', {}), 1_000, 'AllocID after close()'), 'Unavailable');
      rejectedWith(await settledWithin(session.leaderClient(), 1_000, 'leader lookup after close()'), 'Unavailable');
      assert.equal(a!.allocs.length, 0);
    });
  });
});

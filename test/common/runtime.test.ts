// The runtime helpers: seeded randomness, back-off, task group, failpoints, metrics over HTTP,
// and gRPC server start on port 0 with the channel cache.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import {
  createRng, Backoff, retryWithBackoff, FlotillaError, TaskGroup, silentLogger, armFailpoint, disarmAllFailpoints,
  failpoint, armFailpointsFromSpec, parseFailAction, disarmFailpoint, type FailAction, createMetricsRegistry, startMetricsServer, Counter,
  createGrpcServer, startGrpcServer, ChannelCache, grpcChannelOptions, GRPC_CLIENT_WINDOW_BYTES, channelCredentials, INSECURE, grpc, deadlineAfterMs, describeFatal, ConfigError,
  sleepMs, unboundedAbortController, procStatCpuTicks, PROC_CLOCK_TICKS_PER_SECOND,
} from '../../common/index.js';

function httpGet(port: number, path: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('seeded rng', () => {
  it('replays the same stream for the same seed and differs across seeds', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const sa = Array.from({ length: 50 }, () => a.nextU32());
    assert.deepEqual(sa, Array.from({ length: 50 }, () => b.nextU32()));
    assert.notDeepEqual(sa, Array.from({ length: 50 }, () => c.nextU32()));
  });

  it('keeps draws in range and roughly uniform', () => {
    const rng = createRng(7);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const v = rng.nextInt(10);
      counts[v] = (counts[v] ?? 0) + 1;
      const r = rng.nextRange(5, 9);
      assert.ok(r >= 5 && r <= 9);
      const f = rng.nextFloat();
      assert.ok(f >= 0 && f < 1);
    }
    for (const n of counts) assert.ok(n > 1700 && n < 2300, `bucket count ${n}`);
    assert.throws(() => rng.nextInt(0));
  });

  it('reaches both ends of a range; chance(0) never and chance(1) always; nextInt takes 2^32', () => {
    const rng = createRng(11);
    const seen = new Set<number>();
    for (let i = 0; i < 2_000; i++) seen.add(rng.nextRange(5, 9));
    assert.deepEqual([...seen].sort(), [5, 6, 7, 8, 9]);
    for (let i = 0; i < 5_000; i++) {
      assert.equal(rng.chance(0), false);
      assert.equal(rng.chance(1), true);
    }
    // Uniform for a bound that does not divide 2^32: with 3·2^30, a third of the draws lie below
    // 2^30 (a plain modulo would put half there).
    let low = 0;
    for (let i = 0; i < 6_000; i++) if (rng.nextInt(0xc000_0000) < 0x4000_0000) low++;
    assert.ok(low > 1_800 && low < 2_200, `${low} of 6,000 draws below 2^30`);
    const big = rng.nextInt(0x1_0000_0000);
    assert.ok(Number.isInteger(big) && big >= 0 && big < 0x1_0000_0000);
    assert.throws(() => rng.nextInt(0x1_0000_0001));
    assert.throws(() => rng.nextRange(3, 2));
  });

  it('fork: a child stream of its own, the same for the same parent state, not the parent\'s continuation', () => {
    const parent = createRng(5);
    const twin = createRng(5);
    const unforked = createRng(5);
    const parentStream = Array.from({ length: 41 }, () => unforked.nextU32());
    const child = parent.fork();
    const twinChild = twin.fork();
    const drawn = Array.from({ length: 20 }, () => child.nextU32());
    assert.deepEqual(drawn, Array.from({ length: 20 }, () => twinChild.nextU32()), 'deterministic');
    // Not any stretch of the parent's own stream (a fork that shared it would draw exactly that).
    for (let at = 0; at + 20 <= parentStream.length; at++) assert.notDeepEqual(drawn, parentStream.slice(at, at + 20), `the child draws the parent's stream from draw ${at}`);
  });

  it('seeds that differ only in their high bits give different streams', () => {
    const a = createRng(1);
    const b = createRng(1 + 0x1_0000_0000 * 3);
    assert.notDeepEqual(Array.from({ length: 10 }, () => a.nextU32()), Array.from({ length: 10 }, () => b.nextU32()));
    assert.throws(() => createRng(2 ** 53));
  });
});

describe('backoff', () => {
  const policy = { baseDelayMs: 10, maxDelayMs: 100, multiplier: 2, attemptsMax: 5, totalDeadlineMs: 1_000 };

  it('grows exponentially with jitter, capped, and stops at the attempt cap', () => {
    const b = new Backoff(policy, createRng(1), 0);
    const delays: number[] = [];
    for (let d = b.next(0); d !== null; d = b.next(0)) delays.push(d);
    assert.equal(delays.length, 4); // 5 attempts = 4 waits
    const caps = [10, 20, 40, 80];
    delays.forEach((d, i) => assert.ok(d >= caps[i]! / 2 && d <= caps[i]!, `delay ${d} within [${caps[i]! / 2}, ${caps[i]}]`));
  });

  it('every delay lies in [cap/2, cap] of its attempt, cap = min(max, base × multiplier^(attempt−1)); attemptsMax − 1 waits', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 400 }), fc.constantFrom(1, 1.5, 2, 3), fc.integer({ min: 1, max: 12 }), fc.nat(),
      (base, extra, multiplier, attemptsMax, seed) => {
        const p = { baseDelayMs: base, maxDelayMs: base + extra, multiplier, attemptsMax, totalDeadlineMs: 1e12 };
        const b = new Backoff(p, createRng(seed), 0);
        let waits = 0;
        for (let d = b.next(0); d !== null; d = b.next(0)) {
          const cap = Math.min(p.maxDelayMs, base * multiplier ** waits);
          assert.ok(d >= cap / 2 && d <= Math.ceil(cap), `wait ${waits + 1}: ${d} ms outside [${cap / 2}, ${cap}]`);
          waits++;
        }
        assert.equal(waits, attemptsMax - 1);
        assert.equal(b.attemptCount, attemptsMax);
      }), { numRuns: 500 });
  });

  it('stops before the total deadline', () => {
    const b = new Backoff({ ...policy, attemptsMax: 100 }, createRng(2), 0);
    assert.equal(b.next(995), null);
  });

  it('retries retryable errors, gives up with the last error, and never retries the rest', async () => {
    let now = 0;
    const sleep = async (ms: number): Promise<void> => {
      now += ms;
    };
    let calls = 0;
    const value = await retryWithBackoff(
      async () => {
        calls++;
        if (calls < 3) throw new FlotillaError('ServerIsBusy', 'busy');
        return 'ok';
      },
      { rng: createRng(3), policy, nowMs: () => now, sleep },
    );
    assert.equal(value, 'ok');
    assert.equal(calls, 3);

    calls = 0;
    await assert.rejects(
      retryWithBackoff(async () => {
        calls++;
        throw new FlotillaError('ServerIsBusy', `busy ${calls}`);
      }, { rng: createRng(3), policy, nowMs: () => now, sleep }),
      { message: 'busy 5' },
    );
    calls = 0;
    await assert.rejects(
      retryWithBackoff(async () => {
        calls++;
        throw new FlotillaError('TxnLockNotFound', 'gone');
      }, { rng: createRng(3), policy, nowMs: () => now, sleep }),
      { code: 'TxnLockNotFound' },
    );
    assert.equal(calls, 1);
  });

  it('a shared closing signal takes any number of waiting sleeps without a leak warning, and they all stop listening', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    try {
      const closing = unboundedAbortController();
      await Promise.all(Array.from({ length: 100 }, () => sleepMs(5, closing.signal)));
      const aborted = Promise.allSettled(Array.from({ length: 100 }, () => sleepMs(60_000, closing.signal)));
      closing.abort();
      const outcomes = await aborted;
      assert.ok(outcomes.every((o) => o.status === 'rejected'));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('task group', () => {
  it('runs tasks, logs failures instead of losing them, and waits for all at close', async () => {
    const lines: unknown[] = [];
    const log = silentLogger();
    log.error = ((obj: unknown) => void lines.push(obj));
    const group = new TaskGroup(log);
    let finished = 0;
    group.spawn('ok', async () => {
      await Promise.resolve();
      finished++;
    });
    group.spawn('fails', async () => {
      throw new Error('boom');
    });
    group.spawn('waits-for-abort', (signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())));
    await group.close();
    assert.equal(finished, 1);
    assert.equal(lines.length, 1);
    assert.equal(group.size, 0);
    assert.throws(() => group.spawn('late', async () => {}), { code: 'Unavailable' });
  });
});

describe('failpoints', () => {
  it('cost nothing unarmed and act when armed', async () => {
    assert.equal(failpoint('x'), undefined);
    armFailpoint('x', 'return(42)');
    assert.equal(failpoint('x'), '42');
    assert.equal(failpoint('y'), undefined);
    armFailpoint('x', 'panic');
    assert.throws(() => failpoint('x'), { code: 'Internal' });
    armFailpoint('p', 'pause');
    let resumed = false;
    const paused = (failpoint('p') as Promise<unknown>).then(() => (resumed = true));
    await Promise.resolve();
    assert.equal(resumed, false);
    disarmAllFailpoints();
    await paused;
    assert.equal(resumed, true);
    assert.equal(failpoint('x'), undefined);
    armFailpointsFromSpec('a=return;b=sleep(1)');
    assert.equal(failpoint('a'), '');
    await failpoint('b');
    disarmAllFailpoints();
    assert.throws(() => parseFailAction('explode'), { code: 'ConfigInvalid' });
    assert.throws(() => armFailpointsFromSpec('noequals'), { code: 'ConfigInvalid' });
  });

  it('parses every action as FLOTILLA_FAILPOINTS spells it: multi-digit sleeps, return values with any text, blanks around', () => {
    const cases: [string, FailAction][] = [
      ['off', { kind: 'off' }], [' panic ', { kind: 'panic' }], ['pause', { kind: 'pause' }], ['return', { kind: 'return', value: '' }],
      ['return()', { kind: 'return', value: '' }], ['return(err)', { kind: 'return', value: 'err' }], ['return(a(b) c=d)', { kind: 'return', value: 'a(b) c=d' }],
      ['sleep(0)', { kind: 'sleep', ms: 0 }], ['sleep(7)', { kind: 'sleep', ms: 7 }], ['sleep(250)', { kind: 'sleep', ms: 250 }], ['sleep(60000)', { kind: 'sleep', ms: 60_000 }],
    ];
    for (const [text, want] of cases) assert.deepEqual(parseFailAction(text), want, text);
    for (const bad of ['', 'sleep()', 'sleep(-1)', 'sleep(1.5)', 'sleep(x)', 'returns', 'Panic', 'pause(1)']) {
      assert.throws(() => parseFailAction(bad), { code: 'ConfigInvalid' }, JSON.stringify(bad));
    }
  });

  it('a spec arms each trimmed name with its action, later ones winning; an empty name or a bad action is refused', () => {
    try {
      armFailpointsFromSpec(' store::a = return(1) ;pd::b=return(x=y);store::a=return(2)');
      assert.equal(failpoint('store::a'), '2');
      assert.equal(failpoint('pd::b'), 'x=y');
      assert.equal(failpoint(' store::a '), undefined);
      armFailpointsFromSpec('pd::b=off');
      assert.equal(failpoint('pd::b'), undefined, 'off disarms');
      for (const bad of ['=panic', ' =panic', 'a=panic;=return', 'a=explode']) {
        assert.throws(() => armFailpointsFromSpec(bad), { code: 'ConfigInvalid' }, JSON.stringify(bad));
      }
    } finally {
      disarmAllFailpoints();
    }
  });

  it('re-arming a paused site releases what waits at it; disarming one site leaves the others armed', async () => {
    try {
      armFailpoint('p', 'pause');
      const first = failpoint('p') as Promise<string | undefined>;
      armFailpoint('p', 'return(now)');
      assert.equal(await first, undefined, 'the wait at the old pause ended');
      assert.equal(failpoint('p'), 'now');
      armFailpoint('q', 'return(q)');
      disarmFailpoint('p');
      assert.equal(failpoint('q'), 'q');
      assert.equal(failpoint('p'), undefined);
    } finally {
      disarmAllFailpoints();
    }
  });
});

describe('metrics endpoint', () => {
  it('serves the registry on /metrics and JSON 404 elsewhere', async () => {
    const registry = createMetricsRegistry({ collectProcessMetrics: false });
    const counter = new Counter({ name: 'flotilla_test_requests_total', help: 'test', labelNames: ['type'], registers: [registry] });
    counter.inc({ type: 'get' }, 3);
    const server = await startMetricsServer(registry, '127.0.0.1', 0);
    try {
      assert.ok(server.port > 0);
      const res = await httpGet(server.port, '/metrics');
      assert.equal(res.status, 200);
      assert.match(res.body, /flotilla_test_requests_total\{type="get"\} 3/);
      const missing = await httpGet(server.port, '/nope');
      assert.equal(missing.status, 404);
      assert.equal((JSON.parse(missing.body) as { code: string }).code, 'NotFound');
    } finally {
      await server.close();
    }
  });
});

describe('process metrics: the event loop\'s busy time and the main thread\'s own CPU', () => {
  /** The value of an unlabelled sample in Prometheus text, or undefined. */
  const valueOf = (text: string, name: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };

  it('reads utime + stime of a /proc stat line past a command name holding spaces and parentheses', () => {
    // Fields 3.. of a real line: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt, cmajflt, utime, stime, ...
    const tail = 'S 1 2 3 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 11 0 99 1000 200';
    for (const comm of ['node', 'a b', 'x) (y', ') )', '', '(((']) {
      assert.equal(procStatCpuTicks(`4242 (${comm}) ${tail}`), 1234 + 567, `comm ${JSON.stringify(comm)}`);
    }
    assert.equal(procStatCpuTicks(''), null);
    assert.equal(procStatCpuTicks('4242 (node) S 1 2'), null, 'a short line');
    assert.equal(procStatCpuTicks('4242 (node) S 1 2 3 0 -1 4194560 100 0 0 0 x 567'), null, 'a field that is not a number');
  });

  it('exports the main thread\'s CPU where /proc has it (Linux): it rises with work on the main thread, not above its busy time', async () => {
    const registry = createMetricsRegistry();
    const first = await registry.metrics();
    const cpu0 = valueOf(first, 'flotilla_main_thread_cpu_seconds_total');
    if (!existsSync(`/proc/${process.pid}/task/${process.pid}/stat`)) {
      // Without /proc the metric is not registered at all (never a counter stuck at 0).
      assert.equal(cpu0, undefined, 'no /proc, yet a main-thread CPU counter');
      assert.notEqual(valueOf(first, 'flotilla_event_loop_busy_seconds_total'), undefined);
      return;
    }
    const busy0 = valueOf(first, 'flotilla_event_loop_busy_seconds_total');
    assert.ok(cpu0 !== undefined && busy0 !== undefined, 'both counters exported');
    // Keep the main thread computing until /proc has counted at least 200 ms more of its CPU.
    let cpu = cpu0;
    let sink = 0;
    while (cpu < cpu0 + 0.2) {
      const until = performance.now() + 50;
      while (performance.now() < until) sink += Math.sqrt(sink + 1);
      cpu = procStatCpuTicks(readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'latin1'))! / PROC_CLOCK_TICKS_PER_SECOND;
    }
    assert.ok(sink > 0);
    const second = await registry.metrics();
    const cpu1 = valueOf(second, 'flotilla_main_thread_cpu_seconds_total')!;
    const busy1 = valueOf(second, 'flotilla_event_loop_busy_seconds_total')!;
    assert.ok(cpu1 - cpu0 >= 0.19, `main thread CPU rose by ${cpu1 - cpu0} s`);
    // The tick counter rounds down to 10 ms; the busy time is exact.
    assert.ok(cpu1 - cpu0 <= busy1 - busy0 + 0.02, `main thread CPU ${cpu1 - cpu0} s above its busy time ${busy1 - busy0} s`);
  });
});

describe('gRPC helpers', () => {
  it('start a server on port 0, report the real port, and reuse cached channels', async () => {
    const service: grpc.ServiceDefinition = {
      echo: {
        path: '/flotilla.test.Echo/Echo',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: Buffer) => v,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (v: Buffer) => v,
        responseDeserialize: (b: Buffer) => b,
      },
    };
    const server = createGrpcServer();
    server.addService(service, { echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
    const started = await startGrpcServer(server, '127.0.0.1', 0);
    const Client = grpc.makeGenericClientConstructor(service, 'Echo');
    const cache = new ChannelCache(await channelCredentials(INSECURE));
    try {
      assert.ok(started.port > 0);
      const client = cache.get(Client, started.address);
      assert.equal(cache.get(Client, started.address), client);
      const reply = await new Promise<Buffer>((resolve, reject) => {
        (client as unknown as { echo: (req: Buffer, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void }).echo(
          Buffer.from('ping'),
          { deadline: deadlineAfterMs(5_000) },
          (err, r) => (err !== null ? reject(err) : resolve(r!)),
        );
      });
      assert.equal(reply.toString(), 'ping');
      // Clients open a receive window of GRPC_CLIENT_WINDOW_BYTES, not HTTP/2's 64 KiB.
      assert.equal(grpcChannelOptions()['grpc-node.flow_control_window'], GRPC_CLIENT_WINDOW_BYTES);
      await assert.rejects(startGrpcServer(createGrpcServer(), '127.0.0.1', started.port), { code: 'Unavailable' });
    } finally {
      cache.close();
      await started.stop();
    }
  });

  it('describes fatal errors in one line', () => {
    assert.equal(describeFatal(new ConfigError('--port', 'too big')), 'invalid config: --port: too big');
    assert.equal(describeFatal(new FlotillaError('EngineError', 'disk gone')), 'EngineError: disk gone');
  });
});

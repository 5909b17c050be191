// The PD peer fault layer: per-peer one-way and two-way drops in-process, the failpoint's rules
// for real processes, and the drop counters that prove a fault took effect. The property judges
// every answer and both counters against a plain model of the rules (FLOTILLA_PEER_FAULTS_SEED=N
// replays a run).
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { armFailpoint, assertNever, disarmAllFailpoints, FlotillaError } from '../../common/index.js';
import { PEER_DROP_FAILPOINT, PeerFaults, parsePeerDropRules } from '../../placement-driver/peer-faults.js';

const SEED = process.env['FLOTILLA_PEER_FAULTS_SEED'] === undefined ? undefined : Number(process.env['FLOTILLA_PEER_FAULTS_SEED']);
/** Runs of the model property; a few hundred cover every rule shape many times over. */
const RUNS = Number(process.env['FLOTILLA_PROP_RUNS'] ?? 300);

describe('PD peer faults', () => {
  afterEach(() => disarmAllFailpoints());

  it('drops per peer and direction, all peers, and heals', () => {
    const f = new PeerFaults();
    assert.equal(f.allowsOut(2), true);
    assert.equal(f.allowsIn(2), true);
    f.drop(2, 'in');
    assert.equal(f.allowsIn(2), false);
    assert.equal(f.allowsOut(2), true);
    assert.equal(f.allowsIn(3), true);
    f.drop(3, 'out');
    assert.equal(f.allowsOut(3), false);
    assert.equal(f.allowsIn(3), true);
    f.heal();
    assert.equal(f.isFaulty, false);
    f.dropAll('both');
    for (const peer of [1, 2, 3, 99]) {
      assert.equal(f.allowsIn(peer), false);
      assert.equal(f.allowsOut(peer), false);
    }
    assert.equal(f.droppedIn, 5);
    assert.equal(f.droppedOut, 5);
  });

  it('takes rules from the pd::peer-drop failpoint while it is armed', () => {
    const f = new PeerFaults();
    armFailpoint(PEER_DROP_FAILPOINT, 'return(in:2,both:3)');
    assert.equal(f.allowsIn(2), false);
    assert.equal(f.allowsOut(2), true);
    assert.equal(f.allowsIn(3), false);
    assert.equal(f.allowsOut(3), false);
    armFailpoint(PEER_DROP_FAILPOINT, 'return(out:*)');
    assert.equal(f.allowsOut(7), false);
    assert.equal(f.allowsIn(7), true);
    disarmAllFailpoints();
    assert.equal(f.allowsOut(7), true);
  });

  it('refuses a malformed rule, naming it', () => {
    assert.throws(() => parsePeerDropRules('in:2,sideways:3'), { code: 'ConfigInvalid', message: /sideways:3/ });
    assert.throws(() => parsePeerDropRules('out:x'), { code: 'ConfigInvalid' });
    assert.deepEqual([...parsePeerDropRules('').in], []);
  });

  it('parses each rule form exactly: spaces around a rule and empty rules are ignored, anything else refused naming it', () => {
    const parsed = (text: string): [unknown[], unknown[]] => {
      const r = parsePeerDropRules(text);
      return [[...r.in], [...r.out]];
    };
    assert.deepEqual(parsed('in:2'), [[2], []]);
    assert.deepEqual(parsed('out:*'), [[], ['*']]);
    assert.deepEqual(parsed('both:3'), [[3], [3]]);
    assert.deepEqual(parsed(' in:2 ,, out:13 ,'), [[2], [13]]);
    assert.deepEqual(parsed('in:2,both:2,in:*'), [[2, '*'], [2]]);
    for (const bad of ['in:', 'in:2x', 'in:*2', 'in:2:3', 'IN:2', 'in: 2', 'in:-1', 'in:1.5', 'both', ':2', 'in:2 out:3', 'sideways:*']) {
      assert.throws(() => parsePeerDropRules(`out:1,${bad}`), (err: unknown) => {
        assert.ok(err instanceof FlotillaError, `${bad}: ${String(err)}`);
        assert.equal(err.code, 'ConfigInvalid', bad);
        assert.ok(err.message.includes(JSON.stringify(bad.trim())), `${bad}: ${err.message}`);
        return true;
      }, `${JSON.stringify(bad)} was accepted`);
    }
  });

  it('counts what the failpoint drops, per direction', () => {
    const f = new PeerFaults();
    armFailpoint(PEER_DROP_FAILPOINT, 'return(in:2,out:3)');
    assert.equal(f.allowsIn(2), false);
    assert.equal(f.allowsIn(2), false);
    assert.equal(f.allowsIn(3), true);
    assert.equal(f.allowsOut(3), false);
    assert.equal(f.allowsOut(2), true);
    assert.deepEqual([f.droppedIn, f.droppedOut], [2, 1]);
  });

  it('a malformed failpoint value is refused each time it is consulted, never replaced by the rules before it', () => {
    const f = new PeerFaults();
    armFailpoint(PEER_DROP_FAILPOINT, 'return(out:2)');
    assert.equal(f.allowsOut(2), false);
    armFailpoint(PEER_DROP_FAILPOINT, 'return(out:2x)');
    for (let i = 0; i < 2; i++) {
      assert.throws(() => f.allowsOut(2), { code: 'ConfigInvalid' });
      assert.throws(() => f.allowsIn(2), { code: 'ConfigInvalid' });
    }
    armFailpoint(PEER_DROP_FAILPOINT, 'return(in:5)');
    assert.equal(f.allowsOut(2), true);
    assert.equal(f.allowsIn(5), false);
  });

  it('every answer and both counters agree with a model of the in-process and failpoint rules', () => {
    type Peer = number | '*';
    type Rule = { readonly direction: 'in' | 'out' | 'both'; readonly peer: Peer };
    type Op =
      | { readonly kind: 'drop'; readonly rule: Rule }
      | { readonly kind: 'heal' }
      | { readonly kind: 'arm'; readonly rules: readonly Rule[]; readonly pad: string }
      | { readonly kind: 'disarm' }
      | { readonly kind: 'ask'; readonly direction: 'in' | 'out'; readonly peer: number };
    const peerArb = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant('*' as const));
    const ruleArb = fc.record({ direction: fc.constantFrom('in' as const, 'out' as const, 'both' as const), peer: peerArb });
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('drop' as const), rule: ruleArb }), weight: 2 },
      { arbitrary: fc.record({ kind: fc.constant('heal' as const) }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('arm' as const), rules: fc.array(ruleArb, { maxLength: 3 }), pad: fc.constantFrom('', ' ') }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('disarm' as const) }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('ask' as const), direction: fc.constantFrom('in' as const, 'out' as const), peer: fc.integer({ min: 1, max: 4 }) }), weight: 6 },
    );
    const matches = (rules: readonly Rule[], direction: 'in' | 'out', peer: number): boolean =>
      rules.some((r) => (r.direction === direction || r.direction === 'both') && (r.peer === '*' || r.peer === peer));
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
      disarmAllFailpoints();
      const f = new PeerFaults();
      let inProcess: Rule[] = [];
      let armed: Rule[] = [];
      const dropped = { in: 0, out: 0 };
      for (const op of ops) {
        switch (op.kind) {
          case 'drop':
            if (op.rule.peer === '*' && op.rule.direction === 'both') f.dropAll('both');
            else f.drop(op.rule.peer, op.rule.direction);
            inProcess.push(op.rule);
            break;
          case 'heal':
            f.heal();
            inProcess = [];
            break;
          case 'arm':
            armFailpoint(PEER_DROP_FAILPOINT, `return(${op.rules.map((r) => `${op.pad}${r.direction}:${r.peer}${op.pad}`).join(',')})`);
            armed = [...op.rules];
            break;
          case 'disarm':
            disarmAllFailpoints();
            armed = [];
            break;
          case 'ask': {
            const isDropped = matches(inProcess, op.direction, op.peer) || matches(armed, op.direction, op.peer);
            const allowed = op.direction === 'in' ? f.allowsIn(op.peer) : f.allowsOut(op.peer);
            assert.equal(allowed, !isDropped, `${op.direction} ${op.peer}: in-process ${JSON.stringify(inProcess)}, failpoint ${JSON.stringify(armed)}`);
            if (isDropped) dropped[op.direction]++;
            break;
          }
          default:
            assertNever(op);
        }
        assert.equal(f.isFaulty, inProcess.length > 0, 'isFaulty names the in-process rules');
      }
      assert.deepEqual([f.droppedIn, f.droppedOut], [dropped.in, dropped.out], 'drop counters');
    }), { numRuns: RUNS, seed: SEED });
  });
});

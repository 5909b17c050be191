// Comparing txn/ with the reference model (model.ts): a canonical string of any answer, the whole
// engine state decoded into the model's terms (ExpectedState), and a line-per-entry diff of two
// states for failure messages. Shared by the reference-model property and the resolver races.

import assert from 'node:assert/strict';
import { cfRangeOf, decodeDataKey, type Ts } from '../../../common/index.js';
import { decodeLatest, decodeLockEntry, decodeWrite, type LatestRecord, type Lock, type Snapshot, type Write } from '../../../txn/index.js';
import { type ExpectedState } from './model.js';

const S = (b: Buffer): string => b.toString('latin1');
const B = (s: string): Buffer => Buffer.from(s, 'latin1');

/** A deterministic string of a result: sorted object keys, buffers as latin1, InvalidArgument text dropped. */
export function canon(value: unknown, strip: (b: Buffer) => Buffer): string {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'bigint') return `${v}n`;
    if (Buffer.isBuffer(v)) return `b:${S(strip(v))}`;
    if (Array.isArray(v)) return v.map(walk);
    if (v instanceof Set) return [...(v as Set<unknown>)].map(walk);
    if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(o).sort()) {
        if (key === 'message' && (o['code'] === 'InvalidArgument' || o['code'] === 'LimitExceeded')) continue;
        out[key] = walk(o[key]);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(walk(value));
}

/** For failure messages: long runs of one character shortened (values are 0–300 bytes of fill). */
export const brief = (text: string): string => text.replace(/(.)\1{15,}/g, (run, ch: string) => `${ch}…×${run.length}`);

/**
 * Every lock, write record, latest record and default-CF value of user keys in [start, end)
 * (`end` empty: unbounded), decoded; `strip` maps an engine user key to the case's key.
 */
export async function readEngineState(s: Snapshot, start: Buffer, end: Buffer, strip: (b: Buffer) => Buffer): Promise<ExpectedState> {
  const locks = new Map<string, Lock>();
  const writes = new Map<string, Map<Ts, Write>>();
  const values = new Map<string, Buffer>();
  const latest = new Map<string, LatestRecord>();
  const scanCf = async (cf: 'lock' | 'write' | 'default' | 'latest'): Promise<{ key: Buffer; value: Buffer }[]> => {
    const r = cfRangeOf(cf, start, end);
    return s.scan(r.start, r.end, { limit: 1_000_000 });
  };
  for (const entry of await scanCf('lock')) {
    const lock = decodeLockEntry(entry.value);
    assert.ok(lock !== null, 'a lock-CF entry is a lock (no unlocked markers)');
    locks.set(S(strip(decodeDataKey(entry.key).userKey)), lock);
  }
  for (const entry of await scanCf('latest')) latest.set(S(strip(decodeDataKey(entry.key).userKey)), decodeLatest(entry.value));
  for (const entry of await scanCf('write')) {
    const decoded = decodeDataKey(entry.key);
    const key = S(strip(decoded.userKey));
    let versions = writes.get(key);
    if (versions === undefined) writes.set(key, (versions = new Map<Ts, Write>()));
    versions.set(decoded.ts!, decodeWrite(entry.value));
  }
  for (const entry of await scanCf('default')) {
    const decoded = decodeDataKey(entry.key);
    values.set(`${S(strip(decoded.userKey))}@${decoded.ts}`, entry.value);
  }
  return { locks, writes, values, latest };
}

/** The entries of two states that differ, one per line: `-` only in txn/, `+` only in the model. */
export function stateDiff(actual: ExpectedState, expected: ExpectedState, strip: (b: Buffer) => Buffer, showTs: (ts: Ts) => string): string {
  const entries = (state: ExpectedState, own: (b: Buffer) => Buffer): Set<string> => {
    const out = new Set<string>();
    for (const [key, lock] of state.locks) out.add(`lock ${JSON.stringify(key)} ${canon(lock, own)}`);
    for (const [key, versions] of state.writes) for (const [ts, w] of versions) out.add(`write ${JSON.stringify(key)}@${showTs(ts)} ${canon(w, own)}`);
    for (const [id, value] of state.values) out.add(`value ${JSON.stringify(id)} ${value.length} B`);
    for (const [key, l] of state.latest) {
      out.add(`latest ${JSON.stringify(key)} max ${showTs(l.maxWriteTs)} ${l.data === null ? 'no data' : `data @${showTs(l.data.commitTs)} ${canon(l.data.write, own)}`}`);
    }
    return out;
  };
  const a = entries(actual, strip);
  const e = entries(expected, (b) => b);
  const lines = [...[...a].filter((x) => !e.has(x)).map((x) => `  - txn/ : ${x}`), ...[...e].filter((x) => !a.has(x)).map((x) => `  + model: ${x}`)];
  return brief(lines.join('\n'));
}

/** One canonical string of a whole state (keys and versions sorted). */
export function canonState(state: ExpectedState, strip: (b: Buffer) => Buffer): string {
  const sortStr = <T>(m: Map<string, T>): [string, T][] => [...m].sort((a, b) => Buffer.compare(B(a[0]), B(b[0])));
  return canon({
    locks: sortStr(state.locks),
    writes: sortStr(state.writes).map(([k, versions]) => [k, [...versions].sort((a, b) => (a[0] < b[0] ? -1 : 1))]),
    values: sortStr(state.values),
    latest: sortStr(state.latest),
  }, strip);
}

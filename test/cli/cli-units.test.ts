// The CLI's pure parts against models: prefix ranges (a key is in [prefix, prefixEnd) exactly when
// it starts with the prefix), key encodings round-trip and refuse malformed text, txn batches
// parse or name the bad operation, timestamps decode, config values parse.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfigSet, parseConfigValue } from '../../cli/commands/config.js';
import { decodeTs, parseTs } from '../../cli/commands/tso.js';
import { parseTxnOps } from '../../cli/commands/txn.js';
import { CliError, describeError, EXIT_FAILURE, EXIT_USAGE } from '../../cli/errors.js';
import { encodingOf, formatBytes, parseBytes, prefixEnd } from '../../cli/keys.js';
import { renderTable } from '../../cli/output.js';
import { FlotillaError } from '../../common/index.js';

const runs = Number(process.env.FLOTILLA_PROP_RUNS ?? 500);

function usage(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof CliError && err.exitCode === EXIT_USAGE && pattern.test(err.message));
}

describe('cli keys', () => {
  it('a key is within [prefix, prefixEnd(prefix)) exactly when it starts with the prefix', () => {
    const bytes = fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a));
    // Bytes near 0x00 and 0xff, where carries happen.
    const edgy = fc.array(fc.constantFrom(0x00, 0x01, 0x7f, 0xfe, 0xff), { maxLength: 5 }).map((a) => Buffer.from(a));
    // Keys near the prefix: the prefix itself, extended, cut short, or with one byte moved up or down.
    const near = (prefix: Buffer): fc.Arbitrary<Buffer> => fc.tuple(fc.nat({ max: prefix.length }), fc.constantFrom(-1, 0, 1), edgy).map(([at, delta, tail]) => {
      const head = Buffer.from(prefix.subarray(0, at));
      if (at > 0) head[at - 1] = (head[at - 1]! + delta + 256) % 256;
      return Buffer.concat([head, tail]);
    });
    const prefixAndKey = fc.oneof(
      fc.tuple(fc.oneof(bytes, edgy), fc.oneof(bytes, edgy)),
      fc.oneof(bytes, edgy).chain((prefix) => fc.tuple(fc.constant(prefix), near(prefix))),
    );
    fc.assert(fc.property(prefixAndKey, ([prefix, key]) => {
      const end = prefixEnd(prefix);
      const inRange = Buffer.compare(key, prefix) >= 0 && (end === null || Buffer.compare(key, end) < 0);
      const starts = key.length >= prefix.length && key.subarray(0, prefix.length).equals(prefix);
      assert.equal(inRange, starts, `prefix ${prefix.toString('hex')} key ${key.toString('hex')} end ${end?.toString('hex') ?? 'null'}`);
    }), { numRuns: runs * 4 });
    assert.equal(prefixEnd(Buffer.from([0xff, 0xff])), null);
    assert.equal(prefixEnd(Buffer.alloc(0)), null);
  });

  it('hex and base64 round-trip any bytes; malformed text is a usage error, never another key', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (a) => {
      const b = Buffer.from(a);
      for (const enc of ['hex', 'base64'] as const) assert.deepEqual(parseBytes(formatBytes(b, enc), enc, 'key'), b);
    }), { numRuns: runs });
    fc.assert(fc.property(fc.string({ maxLength: 20 }), (text) => {
      let decoded: Buffer | null = null;
      try {
        decoded = parseBytes(text, 'hex', 'key');
      } catch (err) {
        assert.ok(err instanceof CliError && err.exitCode === EXIT_USAGE);
      }
      // Accepted text is exactly what re-encodes to itself (case aside): nothing is silently dropped.
      if (decoded !== null) assert.equal(decoded.toString('hex'), text.toLowerCase());
    }), { numRuns: runs });
    usage(() => parseBytes('abc', 'hex', 'key'), /key "abc" is not hex/);
    usage(() => parseBytes('zz', 'hex', 'key'), /not hex/);
    usage(() => parseBytes('a?==', 'base64', 'value'), /value "a\?==" is not base64/);
    usage(() => parseBytes('abc', 'base64', 'key'), /not base64/);
    usage(() => encodingOf({ hex: true, base64: true }), /exclude/);
    assert.equal(parseBytes('héllo', 'utf8', 'k').toString('utf8'), 'héllo');
  });
});

describe('cli txn batches', () => {
  it('parses an array or JSON lines of put/delete/get in order', () => {
    const ops = parseTxnOps('{"op":"put","key":"a","value":"1"}\n\n{"op":"delete","key":"b"}\n{"op":"get","key":"c"}\n', 'utf8');
    assert.deepEqual(ops.map((o) => [o.op, o.key.toString()]), [['put', 'a'], ['delete', 'b'], ['get', 'c']]);
    const arr = parseTxnOps('[{"op":"put","key":"00ff","value":""}]', 'hex');
    assert.deepEqual(arr[0], { op: 'put', key: Buffer.from([0, 255]), value: Buffer.alloc(0) });
  });

  it('names the first bad operation (1-based) and refuses the whole batch', () => {
    usage(() => parseTxnOps('', 'utf8'), /empty/);
    usage(() => parseTxnOps('{"op":"put","key":"a","value":"1"}\n{oops', 'utf8'), /not JSON/);
    usage(() => parseTxnOps('[{"op":"put","key":"a","value":"1"},{"op":"put","key":"b"}]', 'utf8'), /operation 2: a put needs a string "value"/);
    usage(() => parseTxnOps('[{"op":"del","key":"a"}]', 'utf8'), /operation 1: "op" must be put, delete or get/);
    usage(() => parseTxnOps('[{"op":"get","key":""}]', 'utf8'), /operation 1: "key" must be a non-empty string/);
    usage(() => parseTxnOps('[{"op":"get","key":"zz"}]', 'hex'), /operation 1: key "zz" is not hex/);
    usage(() => parseTxnOps('[1]', 'utf8'), /operation 1: not an object/);
    usage(() => parseTxnOps('{"op":"get"}', 'utf8'), /"key"/);
  });
});

describe('cli values', () => {
  it('timestamps decode into physical ms and logical, and only u64 decimals parse', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (ts) => {
      const d = decodeTs(parseTs(ts.toString()));
      assert.equal((BigInt(d.physicalMs) << 18n) + BigInt(d.logical), ts);
      assert.ok(d.logical < 1 << 18);
    }), { numRuns: runs });
    usage(() => parseTs('18446744073709551616'), /not a u64/);
    usage(() => parseTs('-1'), /not a u64/);
    usage(() => parseTs('1e3'), /not a u64/);
    usage(() => parseTs(''), /not a u64/);
  });

  it('config values are numbers or booleans', () => {
    assert.equal(parseConfigValue('x', '5'), 5);
    assert.equal(parseConfigValue('x', '-2.5'), -2.5);
    assert.equal(parseConfigValue('x', 'true'), true);
    assert.equal(parseConfigValue('x', 'false'), false);
    usage(() => parseConfigValue('x', 'yes'), /x: "yes" is neither a number nor true\/false/);
    usage(() => parseConfigValue('x', '1,000'), /neither/);
    assert.ok(ConfigSet.examples.length > 0);
  });

  it('errors map to one line and an exit code', () => {
    assert.deepEqual(describeError(new FlotillaError('InvalidArgument', 'bad\nthing')), { line: 'bad thing [InvalidArgument]', exitCode: EXIT_USAGE });
    assert.deepEqual(describeError(new FlotillaError('Unavailable', 'down')), { line: 'down [Unavailable]', exitCode: EXIT_FAILURE });
    assert.deepEqual(describeError(new CliError('x\n  y')), { line: 'x y', exitCode: EXIT_FAILURE });
    assert.deepEqual(describeError('text'), { line: 'text', exitCode: EXIT_FAILURE });
  });

  it('tables align columns and never break a row', () => {
    const t = renderTable(['id', 'name'], [[1, 'a\nb'], [22, null]]);
    assert.equal(t, 'ID  NAME\n1   a b\n22  -');
  });
});

// The error registry and proto's errorpb.ErrorCode name the same codes, both ways.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';
import {
  ERROR_CODES, ERROR_REGISTRY, FlotillaError, ConfigError, errorCodeFromWire, errorCodeToWire, isFlotillaError,
} from '../../common/index.js';

function protoDir(): string {
  // Compiled to dist/test/common/; the .proto files stay in <root>/proto.
  let dir = fileURLToPath(new URL('.', import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'proto', 'errorpb.proto'))) return join(dir, 'proto');
    dir = join(dir, '..');
  }
  throw new Error('proto/errorpb.proto not found');
}

function protoErrorCodes(): string[] {
  const def = loadSync('errorpb.proto', { includeDirs: [protoDir()] });
  const enumDef = def['flotilla.errorpb.ErrorCode'] as unknown as { type: { value: { name: string }[] } };
  assert.ok(enumDef?.type?.value, 'errorpb.ErrorCode exists');
  return enumDef.type.value.map((v) => v.name).filter((n) => n !== 'ERROR_CODE_UNSPECIFIED');
}

describe('error registry', () => {
  it('every registry code is in errorpb.ErrorCode and every enum value is registered', () => {
    const wire = protoErrorCodes();
    const fromRegistry = ERROR_CODES.map(errorCodeToWire);
    assert.deepEqual([...fromRegistry].sort(), [...wire].sort());
    for (const w of wire) assert.notEqual(errorCodeFromWire(w), null, `${w} maps back to a registry code`);
  });

  it('maps codes to and from the wire spelling', () => {
    assert.equal(errorCodeToWire('NotLeader'), 'NOT_LEADER');
    assert.equal(errorCodeToWire('GcSafePointBackwards'), 'GC_SAFE_POINT_BACKWARDS');
    assert.equal(errorCodeFromWire('KEY_IS_LOCKED'), 'KeyIsLocked');
    assert.equal(errorCodeFromWire('ERROR_CODE_UNSPECIFIED'), null);
    assert.equal(errorCodeFromWire('NO_SUCH_THING'), null);
    for (const code of ERROR_CODES) assert.equal(errorCodeFromWire(errorCodeToWire(code)), code);
  });

  it('errors carry code, category, retryable, details and cause', () => {
    const cause = new Error('socket closed');
    const err = new FlotillaError('NotLeader', 'region 7: not leader', { details: { leaderStoreId: 3 }, cause });
    assert.equal(err.code, 'NotLeader');
    assert.equal(err.category, 'region');
    assert.equal(err.retryable, true);
    assert.deepEqual(err.details, { leaderStoreId: 3 });
    assert.equal(err.cause, cause);
    assert.ok(isFlotillaError(err, 'NotLeader'));
    assert.ok(!isFlotillaError(err, 'RegionNotFound'));
    assert.equal(new FlotillaError('TxnLockNotFound', 'x').retryable, false);
    const cfg = new ConfigError('--port', 'must be below 65536');
    assert.equal(cfg.message, 'invalid config: --port: must be below 65536');
    assert.equal(cfg.code, 'ConfigInvalid');
  });

  it('every registry entry has a summary and a known category', () => {
    for (const [code, spec] of Object.entries(ERROR_REGISTRY)) {
      assert.ok(spec.summary.length > 10, code);
      assert.ok(['region', 'key', 'pd', 'general'].includes(spec.category), code);
    }
  });
});

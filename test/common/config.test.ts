// Config: defaults < file < env < flags, and a bad value is rejected with one line naming the field.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, field, loadConfig, loadConfigWithFile, renderConfigHelp, parseFlags } from '../../common/index.js';

const schema = {
  name: field.string({ doc: 'member name', nonEmpty: true }),
  dataDir: field.string({ doc: 'data directory', default: './data' }),
  port: field.int({ doc: 'listen port', default: 2379, min: 0, max: 65535 }),
  verbose: field.bool({ doc: 'log more', default: false }),
  logLevel: field.enumOf(['debug', 'info', 'warn'] as const, { doc: 'log level', default: 'info' }),
  blockCache: field.bytes({ doc: 'block cache size', default: 64 * 1024 * 1024, min: 1024 * 1024 }),
  tick: field.durationMs({ doc: 'raft tick', default: 100, min: 1, max: 10_000 }),
  peers: field.list({ doc: 'initial cluster', default: [] }),
};

function expectConfigError(fn: () => unknown, fieldName: string, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.field, fieldName);
    assert.equal(err.code, 'ConfigInvalid');
    assert.match(err.message, reason);
    assert.ok(!err.message.includes('\n'), 'the message is one line');
    return true;
  });
}

describe('config loader', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('fills defaults and parses every kind of field', () => {
    const c = loadConfig(schema, { argv: ['--name', 'pd1', '--block-cache', '128MiB', '--tick=2s', '--verbose', '--peers', 'a=1, b=2'] });
    assert.deepEqual(c, { name: 'pd1', dataDir: './data', port: 2379, verbose: true, logLevel: 'info', blockCache: 128 * 1024 * 1024, tick: 2000, peers: ['a=1', 'b=2'] });
  });

  it('layers defaults < file < env < flags', () => {
    const file = { name: 'from-file', port: 1, dataDir: '/file' , 'log-level': 'warn' };
    const env = { FLOTILLA_PD_PORT: '2', FLOTILLA_PD_DATA_DIR: '/env' };
    const c = loadConfig(schema, { argv: ['--port', '3'], env, envPrefix: 'FLOTILLA_PD', file });
    assert.equal(c.port, 3); // flag beats env and file
    assert.equal(c.dataDir, '/env'); // env beats file
    assert.equal(c.name, 'from-file'); // file beats default
    assert.equal(c.logLevel, 'warn'); // kebab-case keys work in files
    assert.equal(c.tick, 100); // default
  });

  it('rejects bad values naming the field and the reason', () => {
    expectConfigError(() => loadConfig(schema, { argv: ['--name', 'x', '--port', '70000'] }), '--port', /above the maximum 65535/);
    expectConfigError(() => loadConfig(schema, { argv: ['--name', 'x', '--port', 'eighty'] }), '--port', /not an integer/);
    expectConfigError(() => loadConfig(schema, { argv: ['--name', 'x', '--log-level', 'loud'] }), '--log-level', /not one of debug, info, warn/);
    expectConfigError(() => loadConfig(schema, { argv: ['--name', 'x', '--block-cache', '12 parsecs'] }), '--block-cache', /not a size/);
    expectConfigError(() => loadConfig(schema, { argv: ['--name', 'x', '--block-cache', '1KiB'] }), '--block-cache', /below the minimum/);
    expectConfigError(() => loadConfig(schema, { argv: ['--name', 'x', '--tick', '0'] }), '--tick', /below the minimum 1 ms/);
    expectConfigError(() => loadConfig(schema, { argv: ['--name', 'x', '--verbose', 'maybe'] }), '--verbose', /not a boolean/);
    expectConfigError(() => loadConfig(schema, { argv: ['--name', ''] }), '--name', /must not be empty/);
    expectConfigError(() => loadConfig(schema, { argv: [] }), '--name', /is required/);
    expectConfigError(() => loadConfig(schema, { argv: ['--name', 'x', '--colour', 'red'] }), '--colour', /unknown flag/);
    expectConfigError(() => loadConfig(schema, { argv: ['pd1'] }), 'pd1', /unexpected argument/);
    expectConfigError(() => loadConfig(schema, { file: { name: 'x', bogus: 1 } }), 'bogus', /unknown key in config file/);
    expectConfigError(() => loadConfig(schema, { env: { FLOTILLA_PD_PORT: '-5' }, envPrefix: 'FLOTILLA_PD', argv: ['--name', 'x'] }), 'FLOTILLA_PD_PORT', /below the minimum 0/);
  });

  it('numeric bounds are inclusive on both sides, for every kind of numeric field and source', () => {
    fc.assert(fc.property(
      fc.constantFrom('int', 'bytes', 'durationMs'), fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom('flag', 'env', 'file'),
      (kind, a, b, source) => {
        const [min, max] = a <= b ? [a, b] : [b, a];
        const spec = { doc: 'n', default: min, min, max };
        const s = { n: kind === 'int' ? field.int(spec) : kind === 'bytes' ? field.bytes(spec) : field.durationMs(spec) };
        const load = (v: number): number => loadConfig(s, source === 'flag' ? { argv: ['--n', String(v)] } : source === 'env' ? { env: { X_N: String(v) }, envPrefix: 'X' } : { file: { n: v } }).n;
        const where = source === 'env' ? 'X_N' : source === 'file' ? 'n (config file)' : '--n';
        assert.equal(load(min), min);
        assert.equal(load(max), max);
        if (min > 0) expectConfigError(() => load(min - 1), where, /below the minimum/);
        expectConfigError(() => load(max + 1), where, /above the maximum/);
      }), { numRuns: 300 });
  });

  it('runs cross-field validation after each field is valid', () => {
    expectConfigError(
      () => loadConfig(schema, { argv: ['--name', 'x', '--tick', '500'], validate: (c) => (Number(c['tick']) > 100 ? { field: '--tick', reason: 'must be at most 100ms with this port' } : null) }),
      '--tick',
      /at most 100ms/,
    );
  });

  it('reads a JSON file named by --config and reports a broken one clearly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-config-'));
    dirs.push(dir);
    const good = join(dir, 'good.json');
    const broken = join(dir, 'broken.json');
    await writeFile(good, JSON.stringify({ name: 'pd9', tick: '250ms' }));
    await writeFile(broken, '{ name: ');
    const c = await loadConfigWithFile(schema, { argv: ['--config', good, '--port', '7'] });
    assert.equal(c.name, 'pd9');
    assert.equal(c.tick, 250);
    assert.equal(c.port, 7);
    await assert.rejects(loadConfigWithFile(schema, { argv: ['--config', broken] }), { field: '--config', message: /not valid JSON/ });
    await assert.rejects(loadConfigWithFile(schema, { argv: ['--config', join(dir, 'missing.json')] }), { field: '--config', message: /cannot read/ });
  });

  it('parses flag forms and renders help with defaults and env names', () => {
    assert.deepEqual([...parseFlags(['--a=1', '--b', '2', '--c', '--no-d'])], [['a', '1'], ['b', '2'], ['c', true], ['d', false]]);
    const help = renderConfigHelp(schema, 'FLOTILLA_PD');
    assert.match(help, /--data-dir <string>\s+data directory \(default "\.\/data"; env FLOTILLA_PD_DATA_DIR\)/);
    assert.match(help, /--name <string>\s+member name \(required/);
  });
});

// Typed configuration: one schema per process, values layered defaults < file < env < flags, and
// validated at start-up with one clear line naming the bad field and why (ConfigError).
//
//   const schema = { dataDir: field.string({ doc: 'where data lives', default: './data' }), … };
//   const config = loadConfig(schema, { argv: process.argv.slice(2), env: process.env, envPrefix: 'FLOTILLA_PD' });
//
// Field `dataDir` is `--data-dir` on the command line, `FLOTILLA_PD_DATA_DIR` in the environment
// and `dataDir` (or `data-dir`) in the JSON config file named by `--config`.

import { readFile } from 'node:fs/promises';
import { ConfigError } from './errors.js';

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

export interface FieldSpec<T> {
  readonly kind: string;
  readonly doc: string;
  /** undefined means the field is required. */
  readonly default: T | undefined;
  /** Parses a string from a flag or env var, or a JSON value from a file. */
  parse(raw: unknown): Parsed<T>;
  /** Checks a parsed value's range; returns the reason it is bad, or null. */
  check(value: T): string | null;
  /** Renders a value for --help. */
  show(value: T): string;
}

export type ConfigSchema = Readonly<Record<string, FieldSpec<unknown>>>;
export type ConfigOf<S extends ConfigSchema> = { readonly [K in keyof S]: S[K] extends FieldSpec<infer T> ? T : never };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

interface CommonOptions<T> {
  readonly doc: string;
  readonly default?: T;
  readonly validate?: (value: T) => string | null;
}

function makeField<T>(kind: string, options: CommonOptions<T>, parse: (raw: unknown) => Parsed<T>, range: (v: T) => string | null, show: (v: T) => string): FieldSpec<T> {
  return {
    kind,
    doc: options.doc,
    default: options.default,
    parse,
    check: (v) => range(v) ?? options.validate?.(v) ?? null,
    show,
  };
}

const INT_PATTERN = /^-?[0-9]+$/;
const BYTES_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kib: 1024, kb: 1000, mib: 1024 ** 2, mb: 1000 ** 2, gib: 1024 ** 3, gb: 1000 ** 3, tib: 1024 ** 4 };
const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseIntLike(raw: unknown): Parsed<number> {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? ok(raw) : bad(`${raw} is not an integer`);
  if (typeof raw === 'string' && INT_PATTERN.test(raw.trim())) {
    const n = Number(raw.trim());
    return Number.isSafeInteger(n) ? ok(n) : bad(`${raw} is out of range`);
  }
  return bad(`${JSON.stringify(raw)} is not an integer`);
}

function rangeCheck(min: number | undefined, max: number | undefined, unit = '') {
  return (v: number): string | null => {
    if (min !== undefined && v < min) return `${v}${unit} is below the minimum ${min}${unit}`;
    if (max !== undefined && v > max) return `${v}${unit} is above the maximum ${max}${unit}`;
    return null;
  };
}

export const field = {
  string(options: CommonOptions<string> & { readonly nonEmpty?: boolean }): FieldSpec<string> {
    return makeField('string', options, (raw) => (typeof raw === 'string' ? ok(raw) : bad(`${JSON.stringify(raw)} is not a string`)), (v) => (options.nonEmpty === true && v.length === 0 ? 'must not be empty' : null), (v) => JSON.stringify(v));
  },
  int(options: CommonOptions<number> & { readonly min?: number; readonly max?: number }): FieldSpec<number> {
    return makeField('int', options, parseIntLike, rangeCheck(options.min, options.max), String);
  },
  bool(options: CommonOptions<boolean>): FieldSpec<boolean> {
    return makeField(
      'bool',
      options,
      (raw) => {
        if (typeof raw === 'boolean') return ok(raw);
        if (raw === 'true' || raw === '1' || raw === 'yes') return ok(true);
        if (raw === 'false' || raw === '0' || raw === 'no') return ok(false);
        return bad(`${JSON.stringify(raw)} is not a boolean (true/false)`);
      },
      () => null,
      String,
    );
  },
  enumOf<const V extends string>(values: readonly V[], options: CommonOptions<V>): FieldSpec<V> {
    return makeField('enum', options, (raw) => (typeof raw === 'string' && (values as readonly string[]).includes(raw) ? ok(raw as V) : bad(`${JSON.stringify(raw)} is not one of ${values.join(', ')}`)), () => null, (v) => v);
  },
  /** A size in bytes: an integer, or with a unit (`64MiB`, `512kib`, `1GB`). */
  bytes(options: CommonOptions<number> & { readonly min?: number; readonly max?: number }): FieldSpec<number> {
    return makeField(
      'bytes',
      options,
      (raw) => {
        if (typeof raw === 'number') return parseIntLike(raw);
        if (typeof raw !== 'string') return bad(`${JSON.stringify(raw)} is not a size`);
        const m = /^\s*([0-9]+)\s*([a-zA-Z]*)\s*$/.exec(raw);
        const unit = BYTES_UNITS[(m?.[2] ?? '?').toLowerCase()];
        if (m === null || unit === undefined) return bad(`${JSON.stringify(raw)} is not a size (e.g. 4096, 64MiB, 1GB)`);
        const n = Number(m[1]) * unit;
        return Number.isSafeInteger(n) ? ok(n) : bad(`${raw} is too large`);
      },
      rangeCheck(options.min, options.max, ' bytes'),
      String,
    );
  },
  /** A duration in milliseconds: an integer (ms), or with a unit (`250ms`, `3s`, `5m`, `1h`). */
  durationMs(options: CommonOptions<number> & { readonly min?: number; readonly max?: number }): FieldSpec<number> {
    return makeField(
      'duration',
      options,
      (raw) => {
        if (typeof raw === 'number') return parseIntLike(raw);
        if (typeof raw !== 'string') return bad(`${JSON.stringify(raw)} is not a duration`);
        const m = /^\s*([0-9]+)\s*(ms|s|m|h)?\s*$/.exec(raw);
        if (m === null) return bad(`${JSON.stringify(raw)} is not a duration (e.g. 500ms, 3s, 5m)`);
        return ok(Number(m[1]) * (DURATION_UNITS[m[2] ?? 'ms'] ?? 1));
      },
      rangeCheck(options.min, options.max, ' ms'),
      (v) => `${v}ms`,
    );
  },
  /** A comma-separated list (or a JSON array of strings in the file). */
  list(options: CommonOptions<readonly string[]> & { readonly minItems?: number }): FieldSpec<readonly string[]> {
    return makeField(
      'list',
      options,
      (raw) => {
        if (Array.isArray(raw)) return raw.every((x) => typeof x === 'string') ? ok(raw) : bad('list items must be strings');
        if (typeof raw === 'string') return ok(raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0));
        return bad(`${JSON.stringify(raw)} is not a list`);
      },
      (v) => (options.minItems !== undefined && v.length < options.minItems ? `needs at least ${options.minItems} item(s)` : null),
      (v) => v.join(','),
    );
  },
} as const;

/** `dataDir` → `data-dir`. */
export function flagName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** `dataDir` with prefix `FLOTILLA_PD` → `FLOTILLA_PD_DATA_DIR`. */
export function envName(prefix: string, key: string): string {
  return `${prefix}_${flagName(key).replace(/-/g, '_').toUpperCase()}`;
}

export interface ConfigSources {
  /** Command-line arguments after the program name. `--config FILE` names a JSON file. */
  readonly argv?: readonly string[];
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** e.g. 'FLOTILLA_PD'; env vars are ignored without it. */
  readonly envPrefix?: string;
  /** The parsed contents of a config file (when the caller already read it). */
  readonly file?: Readonly<Record<string, unknown>>;
  /** Cross-field checks, after every field is valid: return `{ field, reason }` or null. */
  readonly validate?: (config: Readonly<Record<string, unknown>>) => { field: string; reason: string } | null;
}

/** Splits argv into `--flag value` pairs; `--flag=value`, `--flag` (true) and `--no-flag` (false). */
export function parseFlags(argv: readonly string[]): Map<string, string | boolean> {
  const flags = new Map<string, string | boolean>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') throw new ConfigError(arg, 'unexpected argument (flags look like --name value)');
    const eq = arg.indexOf('=');
    if (eq > 0) {
      flags.set(arg.slice(2, eq), arg.slice(eq + 1));
      continue;
    }
    const name = arg.slice(2);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      flags.set(name, next);
      i++;
    } else if (name.startsWith('no-')) {
      flags.set(name.slice(3), false);
    } else {
      flags.set(name, true);
    }
  }
  return flags;
}

/**
 * Builds a validated config from the layered sources. Synchronous: the file, if any, is passed in
 * already parsed (see loadConfigWithFile). Throws ConfigError naming the first bad field.
 */
export function loadConfig<S extends ConfigSchema>(schema: S, sources: ConfigSources = {}): ConfigOf<S> {
  const flags = parseFlags(sources.argv ?? []);
  flags.delete('config');
  const byFlag = new Map(Object.keys(schema).map((k) => [flagName(k), k] as const));
  for (const name of flags.keys()) {
    if (!byFlag.has(name)) throw new ConfigError(`--${name}`, 'unknown flag (see --help)');
  }
  const file = sources.file ?? {};
  const fileKeys = new Map<string, unknown>();
  for (const [k, v] of Object.entries(file)) {
    const key = byFlag.get(flagName(k)) ?? (k in schema ? k : undefined);
    if (key === undefined) throw new ConfigError(k, 'unknown key in config file');
    fileKeys.set(key, v);
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const fromFlag = flags.get(flagName(key));
    const env = sources.envPrefix === undefined ? undefined : sources.env?.[envName(sources.envPrefix, key)];
    let raw: unknown;
    let where: string;
    if (fromFlag !== undefined) {
      raw = fromFlag;
      where = `--${flagName(key)}`;
    } else if (env !== undefined) {
      raw = env;
      where = envName(sources.envPrefix ?? '', key);
    } else if (fileKeys.has(key)) {
      raw = fileKeys.get(key);
      where = `${key} (config file)`;
    } else if (spec.default !== undefined) {
      out[key] = spec.default;
      continue;
    } else {
      throw new ConfigError(`--${flagName(key)}`, `is required: ${spec.doc}`);
    }
    const parsed = spec.parse(raw);
    if (!parsed.ok) throw new ConfigError(where, parsed.reason);
    const reason = spec.check(parsed.value);
    if (reason !== null) throw new ConfigError(where, reason);
    out[key] = parsed.value;
  }
  const crossField = sources.validate?.(out);
  if (crossField !== null && crossField !== undefined) throw new ConfigError(crossField.field, crossField.reason);
  return out as ConfigOf<S>;
}

/** Like loadConfig, but reads the JSON file named by `--config FILE` (or the env var `<prefix>_CONFIG`). */
export async function loadConfigWithFile<S extends ConfigSchema>(schema: S, sources: ConfigSources = {}): Promise<ConfigOf<S>> {
  const flags = parseFlags(sources.argv ?? []);
  const fromFlag = flags.get('config');
  const path = typeof fromFlag === 'string' ? fromFlag : sources.envPrefix === undefined ? undefined : sources.env?.[`${sources.envPrefix}_CONFIG`];
  if (fromFlag === true) throw new ConfigError('--config', 'needs a file path');
  if (path === undefined) return loadConfig(schema, sources);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('--config', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError('--config', `${path} must hold a JSON object`);
  return loadConfig(schema, { ...sources, file: parsed as Record<string, unknown> });
}

/** `--help` text for a schema: one line per flag with its default and env var. */
export function renderConfigHelp(schema: ConfigSchema, envPrefix?: string): string {
  const lines: string[] = ['  --config FILE'.padEnd(33) + ' ' + 'JSON file with any of the settings below (camelCase or kebab-case keys)'];
  for (const [key, spec] of Object.entries(schema)) {
    const flag = `  --${flagName(key)} <${spec.kind}>`;
    const dflt = spec.default === undefined ? 'required' : `default ${spec.show(spec.default)}`;
    const env = envPrefix === undefined ? '' : `; env ${envName(envPrefix, key)}`;
    lines.push(`${flag.padEnd(33)} ${spec.doc} (${dflt}${env})`);
  }
  return lines.join('\n');
}

/**
 * `host:port` (a name, an IPv4 address or a bracketed IPv6 one, also with an embedded IPv4 part;
 * a port 0..65535), with an optional `scheme://` and trailing slash: `http://127.0.0.1:2380/` →
 * host 127.0.0.1, port 2380, address `127.0.0.1:2380`. Anything else is a ConfigError naming `field`.
 */
export function parseHostPort(text: string, field: string): { readonly host: string; readonly port: number; readonly address: string } {
  const bare = text.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:/\s[\]]+):([0-9]{1,5})$/.exec(bare);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || port > 65535) throw new ConfigError(field, `${JSON.stringify(text)} is not host:port`);
  return { host: m[1]!, port, address: bare };
}

// Keys and values on the command line: UTF-8 by default, `--hex` or `--base64` for binary. A
// malformed encoding is a usage error (exit 2), never a silently different key.

import { usageError } from './errors.js';

export type KeyEncoding = 'utf8' | 'hex' | 'base64';

export const KEY_ENCODINGS: readonly KeyEncoding[] = ['utf8', 'hex', 'base64'];

const HEX = /^([0-9a-fA-F]{2})*$/;
const BASE64 = /^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The encoding chosen by the `--hex` / `--base64` flags (both given: a usage error). */
export function encodingOf(flags: { hex?: boolean; base64?: boolean }): KeyEncoding {
  if (flags.hex === true && flags.base64 === true) throw usageError('--hex and --base64 exclude each other');
  if (flags.hex === true) return 'hex';
  if (flags.base64 === true) return 'base64';
  return 'utf8';
}

/** Decodes `text` given on the command line; `what` names it in the error ("key", "value"). */
export function parseBytes(text: string, encoding: KeyEncoding, what: string): Buffer {
  switch (encoding) {
    case 'utf8':
      return Buffer.from(text, 'utf8');
    case 'hex':
      if (!HEX.test(text)) throw usageError(`${what} ${JSON.stringify(truncate(text))} is not hex (an even number of 0-9a-f digits)`);
      return Buffer.from(text, 'hex');
    case 'base64':
      if (!BASE64.test(text)) throw usageError(`${what} ${JSON.stringify(truncate(text))} is not base64`);
      return Buffer.from(text, 'base64');
  }
}

/** Encodes bytes for printing in `encoding`. UTF-8 output of invalid UTF-8 is lossy; say --hex. */
export function formatBytes(bytes: Buffer, encoding: KeyEncoding): string {
  return encoding === 'utf8' ? bytes.toString('utf8') : bytes.toString(encoding);
}

/** The key just above every key starting with `prefix` (null: no upper bound, prefix all 0xff). */
export function prefixEnd(prefix: Buffer): Buffer | null {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return null;
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

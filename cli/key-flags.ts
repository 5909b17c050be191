import { Flags } from '@oclif/core';

/** `--hex` / `--base64`: how keys (and values) are given and printed; UTF-8 otherwise. */
export const keyEncodingFlags = {
  hex: Flags.boolean({ description: 'keys and values are hex (given and printed)', default: false, exclusive: ['base64'] }),
  base64: Flags.boolean({ description: 'keys and values are base64 (given and printed)', default: false, exclusive: ['hex'] }),
};

/** A hex key from PD shown for people: its UTF-8 text when printable, else hex; '' as the given edge. */
export function showHexKey(hex: string, edge: string): string {
  if (hex === '') return edge;
  const bytes = Buffer.from(hex, 'hex');
  const text = bytes.toString('utf8');
  return /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `0x${hex}`;
}

// The contract's documentation rule: every field and enum value in every .proto carries a
// comment (on the line above, or trailing) saying what it means, its unit, who sets it and
// what zero/empty means.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { PROTO_DIR, PROTO_FILES } from '../../proto/index.js';

const FIELD = /^(repeated\s+)?[\w.]+\s+\w+\s*=\s*\d+\s*;/;
const ENUM_VALUE = /^\w+\s*=\s*\d+\s*;/;

/** "file:line: text" of every field or enum value with no comment above or after it. */
function uncommented(file: string): string[] {
  const lines = readFileSync(join(PROTO_DIR, file), 'utf8').split('\n');
  const missing: string[] = [];
  let previous = '';
  lines.forEach((line, i) => {
    const text = line.trim();
    const isDeclaration = FIELD.test(text) || ENUM_VALUE.test(text);
    if (isDeclaration && !text.includes('//') && !previous.startsWith('//')) {
      missing.push(`${file}:${i + 1}: ${text}`);
    }
    if (text !== '') previous = text;
  });
  return missing;
}

describe('proto comments', () => {
  for (const file of PROTO_FILES) {
    it(`every field and enum value of ${file} is commented`, () => {
      assert.deepEqual(uncommented(file), []);
    });
  }
});

// The account value of the transfer workload (bench/harness/balance.ts): a balance's digits padded
// with spaces to the run's value size. Generated cases against a reference built from strings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeBalance, encodeBalance } from '../../bench/harness/balance.js';
import { Rng } from '../../bench/harness/key-chooser.js';

/** The reference: the digits, then spaces up to `bytes`. */
function reference(balance: number, bytes: number): string {
  return String(balance).padEnd(bytes, ' ');
}

describe('account balances padded to the value size', () => {
  it('encodes as the reference and decodes back, for generated balances and sizes', () => {
    const rng = new Rng(43);
    const edges = [0, 1, 9, 10, 999_999, 1_000_000, 10 ** 14, 10 ** 15 - 1];
    for (let i = 0; i < 2_000; i++) {
      const balance = i < edges.length ? edges[i]! : Math.floor(rng.next() * 10 ** (1 + Math.floor(rng.next() * 15)));
      const bytes = [0, 1, 7, 16, 256, 1024][i % 6]!;
      const value = encodeBalance(balance, bytes);
      assert.equal(value.toString('latin1'), reference(balance, bytes), `balance ${balance}, ${bytes} bytes`);
      assert.equal(value.length, Math.max(String(balance).length, bytes));
      assert.equal(decodeBalance(value), balance, `balance ${balance}, ${bytes} bytes`);
    }
  });

  it('refuses what is not digits followed by spaces', () => {
    for (const text of ['', ' ', '   ', ' 12', '1 2', '12 3 ', '-5', '+5', '1e3', '12\n', 'abc', '12x ', '1234567890123456', '0x10']) {
      assert.equal(decodeBalance(Buffer.from(text, 'latin1')), null, JSON.stringify(text));
    }
    assert.equal(decodeBalance(Buffer.from('123456789012345', 'latin1')), 123456789012345, '15 digits are a balance');
  });

  it('refuses a negative or unsafe balance and a bad size', () => {
    for (const [balance, bytes] of [[-1, 8], [0.5, 8], [Number.MAX_SAFE_INTEGER + 1, 8], [1, -1], [1, 1.5]] as const) {
      assert.throws(() => encodeBalance(balance, bytes), RangeError, `${balance}, ${bytes}`);
    }
  });
});

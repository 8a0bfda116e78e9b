/**
 * COPY text of a value escaped from its bytes (copyBytes, used for large
 * values in logical mode) is byte for byte the COPY text of its string
 * (copyValue): escapes, multi-byte characters, and stretches on both sides
 * of the chunk size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { copyBytes, copyValue } from '../../src/source/logical/copy-text.js';

const escaped = (text: string) => Buffer.concat([...copyBytes(Buffer.from(text, 'utf8'))]);

describe('COPY text from bytes', () => {
  it('equals the COPY text of the string', () => {
    const pieces = ['a', '\\', '\t', '\n', '\r', '☃', '🎉', 'é', 'x'.repeat(1000)];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const cases = ['', 'plain', '\\', '\\x00ff', 'tab\tnew\nline\rback\\slash ☃'];
    for (let n = 0; n < 200; n++) {
      let text = '';
      const length = random() % 60;
      for (let i = 0; i < length; i++) text += pieces[random() % pieces.length];
      cases.push(text);
    }
    const mb = 1 << 20;
    cases.push(`${'y'.repeat(mb - 1)}\t${'z'.repeat(mb + 3)}\\`); // an escape at the chunk boundary, long stretches
    cases.push('\n'.repeat(mb + 5)); // every byte escaped: more than one chunk
    cases.push(`\\${'w'.repeat(3 * mb)}`); // a long stretch after an escape
    for (const text of cases) {
      assert.ok(escaped(text).equals(Buffer.from(copyValue(text), 'utf8')), `differs for ${JSON.stringify(text.slice(0, 40))}`);
    }
  });
});

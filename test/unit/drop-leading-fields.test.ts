/**
 * dropLeadingFields: the staging prefix comes off every line, the rest byte
 * for byte, however the lines are cut into chunks (inside a dropped field,
 * at a tab, at a newline, inside a kept value).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { dropLeadingFields } from '../../src/apply/drop-leading-fields.js';

const LINES = ['17\t\\N\t\\N\tt\t1\tone\\ttab\n', '18\t{a,"b\\\\tc"}\t9\tt\t2\t\\N\n', '19\t\\N\t\\N\tt\t3\tthree\\nlines\\\\\n'];
const KEPT = ['1\tone\\ttab\n', '2\t\\N\n', '3\tthree\\nlines\\\\\n'];

async function strip(chunks: Buffer[], count: number): Promise<string> {
  return text(Readable.from(chunks).pipe(dropLeadingFields(count)));
}

describe('dropLeadingFields', () => {
  it('removes the first fields of each line, whatever the chunks', async () => {
    const whole = Buffer.from(LINES.join(''));
    assert.equal(await strip([whole], 4), KEPT.join(''));
    for (let cut = 1; cut < whole.length; cut++) {
      assert.equal(await strip([whole.subarray(0, cut), whole.subarray(cut)], 4), KEPT.join(''), `cut at ${cut}`);
    }
    assert.equal(
      await strip(
        [...whole].map((b) => Buffer.from([b])),
        4,
      ),
      KEPT.join(''),
      'one byte per chunk',
    );
  });

  it('keeps lines whole with nothing to drop, and drops only the flag of unordered staging', async () => {
    const whole = Buffer.from('t\t1\ta\nf\t2\t\\N\n');
    assert.equal(await strip([whole], 0), 't\t1\ta\nf\t2\t\\N\n');
    assert.equal(await strip([whole], 1), '1\ta\n2\t\\N\n');
  });
});

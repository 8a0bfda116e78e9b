import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { demoWriterEnabled } from '../../src/embedded/demo-writer.js';

describe('demoWriterEnabled', () => {
  it('is on by default and for true-ish values', () => {
    for (const value of [undefined, '', 'true', 'TRUE', '1', 'yes', 'on', ' true ']) {
      assert.equal(demoWriterEnabled({ DEMO_WRITER: value }), true, String(value));
    }
  });
  it('is off for false-ish values', () => {
    for (const value of ['false', 'False', '0', 'no', 'off']) assert.equal(demoWriterEnabled({ DEMO_WRITER: value }), false);
  });
  it('rejects anything else, naming the variable', () => {
    assert.throws(() => demoWriterEnabled({ DEMO_WRITER: 'sometimes' }), /DEMO_WRITER: "sometimes" is not true or false/);
  });
});

/**
 * The wakeup token's snapshot arithmetic: which transactions were in progress
 * at a snapshot ('xmin:xmax:xip,...', pg_current_snapshot()'s text) and
 * whether one had finished by a later one. Found by `npm run soak`: with two
 * or more transactions in progress, finishedBy threw and the replicator
 * counted a replication error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finishedBy, inProgress } from '../../src/source/trigger/wakeup-token.js';

describe('wakeup token snapshots', () => {
  it('lists the transactions in progress', () => {
    assert.deepEqual(inProgress('100:105:'), []);
    assert.deepEqual(inProgress('100:105:100'), [100n]);
    assert.deepEqual(inProgress('100:105:100,102,104'), [100n, 102n, 104n]);
  });

  it('tells finished from in progress, whatever the number in progress', () => {
    assert.equal(finishedBy(99n, '100:105:'), true);
    assert.equal(finishedBy(101n, '100:105:'), true);
    assert.equal(finishedBy(105n, '100:105:'), false);
    assert.equal(finishedBy(101n, '100:105:100'), true);
    assert.equal(finishedBy(100n, '100:105:100'), false);
    assert.equal(finishedBy(5570n, '5570:5575:5570,5571,5572,5573'), false);
    assert.equal(finishedBy(5573n, '5570:5575:5570,5571,5572,5573'), false);
    assert.equal(finishedBy(5574n, '5570:5575:5570,5571,5572,5573'), true);
    assert.equal(finishedBy(5569n, '5570:5575:5570,5571,5572,5573'), true);
  });
});

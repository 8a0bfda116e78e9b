import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse-config.js';
import type { VerifyStatus, VerifyTableStatus } from '../../src/replication/replication-status.js';
import { degradedReason, KEPT_PER_TABLE, TableDivergences } from '../../src/verify/divergences.js';
import { Throttle } from '../../src/verify/throttle.js';

describe('Throttle', () => {
  it('pauses so that work is exactly `share` of each work-then-pause cycle', () => {
    let now = 0;
    const throttle = new Throttle(0.05, () => now);
    now = 100;
    const pause = throttle.endWork();
    assert.equal(pause, 1900);
    assert.equal(100 / (100 + pause), 0.05);
    now += pause;
    throttle.resume();
    now += 40;
    assert.ok(Math.abs(throttle.endWork() - 760) < 1e-9);
    assert.equal(throttle.workMs, 140);
  });

  it('share 1: no pause; out of range: refused', () => {
    let now = 0;
    const throttle = new Throttle(1, () => now);
    now = 500;
    assert.equal(throttle.endWork(), 0);
    assert.throws(() => new Throttle(0), RangeError);
    assert.throws(() => new Throttle(1.5), RangeError);
  });
});

describe('TableDivergences', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const t1 = new Date('2026-01-01T00:01:00Z');

  it('keeps confirmed keys, clears keys judged the same, leaves unjudged keys as they were', () => {
    const d = new TableDivergences();
    const first = d.record(
      ['{"id" : 1}', '{"id" : 2}', '{"id" : 3}'],
      new Map([
        ['{"id" : 1}', 'different'],
        ['{"id" : 2}', 'missing'],
      ]),
      new Set(),
      t0,
    );
    assert.deepEqual(
      first.added.map((a) => a.key),
      ['{"id" : 1}', '{"id" : 2}'],
    );
    assert.equal(d.size, 2);
    const second = d.record(['{"id" : 1}', '{"id" : 2}'], new Map([['{"id" : 1}', 'extra']]), new Set(['{"id" : 2}']), t1);
    assert.deepEqual(second, { added: [], cleared: [] });
    assert.deepEqual(
      d.list().map((x) => [x.key, x.kind, x.since]),
      [
        ['{"id" : 1}', 'extra', t0],
        ['{"id" : 2}', 'missing', t0],
      ],
    );
    const third = d.record(['{"id" : 1}', '{"id" : 2}'], new Map(), new Set(), t1);
    assert.deepEqual(third.cleared, ['{"id" : 1}', '{"id" : 2}']);
    assert.equal(d.size, 0);
  });

  it('keeps at most KEPT_PER_TABLE keys and says so until a pass finds no more', () => {
    const d = new TableDivergences();
    const keys = Array.from({ length: KEPT_PER_TABLE + 5 }, (_, i) => `{"id" : ${i}}`);
    d.record(keys, new Map(keys.map((k) => [k, 'different'] as const)), new Set());
    assert.equal(d.size, KEPT_PER_TABLE);
    assert.equal(d.truncated, true);
    d.endPass();
    assert.equal(d.truncated, true, 'the pass dropped some');
    d.record(keys.slice(0, 10), new Map(), new Set());
    d.endPass();
    assert.equal(d.truncated, false);
    assert.equal(d.size, KEPT_PER_TABLE - 10);
  });
});

describe('degradedReason', () => {
  const table = (name: string, keys: string[], extra: Partial<VerifyTableStatus> = {}): VerifyTableStatus => ({
    table: name,
    divergent_rows: keys.length,
    divergent_truncated: false,
    divergent: keys.map((key) => ({ key, kind: 'different', since: '2026-01-01T00:00:00.000Z' })),
    last_full_pass: null,
    full_passes: 0,
    pass_rows: 0,
    last_pass_rows: null,
    note: null,
    ...extra,
  });
  const status = (...tables: VerifyTableStatus[]): VerifyStatus => ({
    share: 0.05,
    work_seconds: 1,
    started_at: '2026-01-01T00:00:00.000Z',
    tables,
  });

  it('null when nothing differs or verification is off', () => {
    assert.equal(degradedReason(undefined), null);
    assert.equal(degradedReason(status(table('items', []))), null);
  });

  it('names tables and a bounded number of keys', () => {
    assert.equal(
      degradedReason(status(table('items', ['{"id" : 7}']), table('users', []))),
      'replica differs from primary: items (1 row: {"id" : 7}); repair with replicator verify --repair',
    );
    const many = ['{"id" : 1}', '{"id" : 2}', '{"id" : 3}', '{"id" : 4}'];
    assert.equal(
      degradedReason(status(table('a', many), table('b', ['{"k" : "x"}'], { divergent_rows: 1000, divergent_truncated: true }))),
      'replica differs from primary: a (4 rows: {"id" : 1}, {"id" : 2}, {"id" : 3}, …); b (1000+ rows: {"k" : "x"}, …); repair with replicator verify --repair',
    );
    const reason = degradedReason(status(...['a', 'b', 'c', 'd', 'e'].map((n) => table(n, ['{"id" : 1}'])))) ?? '';
    assert.match(reason, /; c \(1 row: \{"id" : 1\}\) and 2 more tables; /);
  });
});

describe('VERIFY_SHARE', () => {
  it('defaults to 0.05; 0 turns it off; a share of the time from 0 to 1', () => {
    assert.equal(parseConfig({}).verifyShare, 0.05);
    assert.equal(parseConfig({ VERIFY_SHARE: '0' }).verifyShare, 0);
    assert.equal(parseConfig({ VERIFY_SHARE: '1' }).verifyShare, 1);
    assert.equal(parseConfig({ VERIFY_SHARE: '.2' }).verifyShare, 0.2);
    for (const bad of ['5%', '1.5', '-0.1', 'often', '1e-2']) {
      assert.throws(
        () => parseConfig({ VERIFY_SHARE: bad }),
        /VERIFY_SHARE: ".*" is not a share of the time from 0 \(off\) to 1/,
        bad,
      );
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics, SEVERAL_TABLES } from '../../src/metrics/replicator-metrics.js';
import { ReplicationStatus } from '../../src/replication/replication-status.js';

async function sample(metrics: ReturnType<typeof createMetrics>, key: string): Promise<number | undefined> {
  const { body } = await metrics.render();
  const line = body.split('\n').find((l) => l.startsWith(`${key} `));
  return line === undefined ? undefined : Number(line.slice(key.length + 1));
}

const batch = (perTable: Array<[string, number]>, counts = { upserted: 1, deleted: 0, truncated: 0 }) => ({
  lastChangeId: '1',
  changes: perTable.reduce((n, [, c]) => n + c, 0),
  lagMs: 20,
  perTable: new Map(perTable),
  counts,
  durationMs: 5,
});

describe('createMetrics', () => {
  it('gives each service its own registry', async () => {
    const a = new ReplicationStatus();
    const b = new ReplicationStatus();
    const ma = createMetrics(a, ['users']);
    const mb = createMetrics(b, ['users']);
    a.recordBatch(batch([['users', 3]], { upserted: 3, deleted: 0, truncated: 0 }));
    assert.equal(await sample(ma, 'pg_replicator_changes_replicated_total{table="users"}'), 3);
    assert.equal(await sample(mb, 'pg_replicator_changes_replicated_total{table="users"}'), 0);
    assert.equal(await sample(ma, 'pg_replicator_batches_total'), 1);
    assert.equal(await sample(mb, 'pg_replicator_batches_total'), 0);
  });

  it('counts operations per table, and under (several) for a batch of several tables', async () => {
    const status = new ReplicationStatus();
    const metrics = createMetrics(status);
    status.recordBatch(batch([['users', 2]], { upserted: 1, deleted: 1, truncated: 0 }));
    status.recordBatch(
      batch(
        [
          ['users', 1],
          ['orders', 4],
        ],
        { upserted: 4, deleted: 0, truncated: 1 },
      ),
    );
    assert.equal(await sample(metrics, 'pg_replicator_changes_applied_total{table="users",operation="upsert"}'), 1);
    assert.equal(await sample(metrics, 'pg_replicator_changes_applied_total{table="users",operation="delete"}'), 1);
    assert.equal(await sample(metrics, `pg_replicator_changes_applied_total{table="${SEVERAL_TABLES}",operation="upsert"}`), 4);
    assert.equal(await sample(metrics, `pg_replicator_changes_applied_total{table="${SEVERAL_TABLES}",operation="truncate"}`), 1);
    assert.equal(await sample(metrics, 'pg_replicator_changes_replicated_total{table="users"}'), 3);
    assert.equal(await sample(metrics, 'pg_replicator_changes_replicated_total{table="orders"}'), 4);
    assert.equal(await sample(metrics, 'pg_replicator_batch_changes_sum'), 7);
    assert.equal(await sample(metrics, 'pg_replicator_apply_duration_seconds_sum'), 0.01);
  });

  it('mirrors the status gauges at scrape time and counts errors by code', async () => {
    const status = new ReplicationStatus();
    const metrics = createMetrics(status);
    assert.equal(await sample(metrics, 'pg_replicator_state{state="starting"}'), 1);
    assert.equal(await sample(metrics, 'pg_replicator_errors_total{code="CHANGE_REJECTED"}'), 0, 'every code starts at 0');
    status.recordError('CHANGE_REJECTED', 'no');
    status.backlog = 42;
    status.primaryReachable = true;
    status.replicaReachable = false;
    assert.equal(await sample(metrics, 'pg_replicator_errors_total{code="CHANGE_REJECTED"}'), 1);
    assert.equal(await sample(metrics, 'pg_replicator_state{state="failing"}'), 1);
    assert.equal(await sample(metrics, 'pg_replicator_state{state="starting"}'), 0);
    assert.equal(await sample(metrics, 'pg_replicator_backlog_changes'), 42);
    assert.equal(await sample(metrics, 'pg_replicator_database_up{database="primary"}'), 1);
    assert.equal(await sample(metrics, 'pg_replicator_database_up{database="replica"}'), 0);
    status.recordBatch({ ...batch([['users', 1]]), lagMs: 1500 });
    assert.equal(await sample(metrics, 'pg_replicator_lag_seconds'), 1.5);
    status.recordCaughtUp();
    assert.equal(await sample(metrics, 'pg_replicator_lag_seconds'), 0);
  });

  it('reports initial-copy rows from the setter and from the status', async () => {
    const status = new ReplicationStatus();
    const metrics = createMetrics(status, ['users']);
    assert.equal(await sample(metrics, 'pg_replicator_initial_copy_rows{table="users"}'), 0);
    metrics.setInitialCopyRows('users', 10);
    assert.equal(await sample(metrics, 'pg_replicator_initial_copy_rows{table="users"}'), 10);
    status.recordInitialCopy('orders', 500, 1000);
    assert.equal(await sample(metrics, 'pg_replicator_initial_copy_rows{table="orders"}'), 500);
    assert.deepEqual(
      status.snapshot().initial_copy?.map(({ rate: _, ...c }) => c),
      [{ table: 'orders', rows_done: 500, rows_estimated: 1000 }],
    );
  });

  it('never lets a failing observer stop the status', () => {
    const status = new ReplicationStatus();
    status.observe({
      batch: () => {
        throw new Error('metrics bug');
      },
    });
    status.recordBatch(batch([['users', 1]]));
    assert.equal(status.recordsReplicated, 1);
    assert.equal(status.snapshot().initial_copy, undefined, 'no initial_copy field when no copy ran');
  });
});

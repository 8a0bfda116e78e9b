/**
 * GET /metrics (Prometheus) and GET /openapi.json on a real primary and
 * replica: every documented metric is exposed, counters move with the writes
 * that replicate, errors are counted by code, and the OpenAPI document
 * describes /status and /health with the fields the service really sends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { startTestServers, type TestServers, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

/** `name{labels} value` lines → Map of `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

describe('metrics and OpenAPI', () => {
  let servers: TestServers;
  let service: Service;
  before(async () => {
    servers = await startTestServers();
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms' });
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  const scrape = async () => {
    const response = await fetch(`${service.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    return { text, samples: parseMetrics(text) };
  };
  const replicated = (n: number) =>
    waitFor(`${n} changes replicated`, async () => service.status.snapshot().records_replicated === n);

  it('exposes every documented metric, with the process metrics under the same prefix', async () => {
    const { text } = await scrape();
    for (const name of [
      'pg_replicator_changes_applied_total',
      'pg_replicator_changes_replicated_total',
      'pg_replicator_changes_captured_total',
      'pg_replicator_connections_opened_total',
      'pg_replicator_listen_reconnections_total',
      'pg_replicator_batches_total',
      'pg_replicator_batch_changes',
      'pg_replicator_apply_duration_seconds',
      'pg_replicator_batch_lag_seconds',
      'pg_replicator_lag_seconds',
      'pg_replicator_backlog_changes',
      'pg_replicator_errors_total',
      'pg_replicator_state',
      'pg_replicator_database_up',
      'pg_replicator_last_batch_timestamp_seconds',
      'pg_replicator_initial_copy_rows',
      'pg_replicator_verify_divergent_rows',
      'pg_replicator_verify_last_full_pass_timestamp_seconds',
      'pg_replicator_verify_work_seconds_total',
      'pg_replicator_process_cpu_seconds_total',
      'pg_replicator_process_resident_memory_bytes',
      'pg_replicator_nodejs_heap_size_used_bytes',
      'pg_replicator_nodejs_eventloop_lag_seconds',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exposed`);
    }
    assert.doesNotMatch(text, /^process_|^nodejs_/m, 'no unprefixed default metrics');
  });

  it('counts changes by table and operation, batches, sizes, durations and lag as writes replicate', async () => {
    await servers.primarySql.query(
      "INSERT INTO users (name, email) VALUES ('Alice', 'alice@m.example'), ('Bob', 'bob@m.example'), ('Charlie', 'charlie@m.example')",
    );
    await replicated(3);
    await servers.primarySql.query("UPDATE users SET email = 'alice.j@m.example' WHERE name = 'Alice'");
    await replicated(4);
    await servers.primarySql.query("DELETE FROM users WHERE name = 'Charlie'");
    await replicated(5);

    const { samples } = await scrape();
    const value = (key: string) => samples.get(key);
    assert.equal(value('pg_replicator_changes_replicated_total{table="users"}'), 5);
    assert.equal(value('pg_replicator_changes_applied_total{table="users",operation="upsert"}'), 4);
    assert.equal(value('pg_replicator_changes_applied_total{table="users",operation="delete"}'), 1);
    assert.equal(value('pg_replicator_changes_applied_total{table="users",operation="truncate"}'), 0);
    assert.equal(value('pg_replicator_changes_captured_total{operation="insert"}'), 3);
    assert.equal(value('pg_replicator_changes_captured_total{operation="update"}'), 1);
    assert.equal(value('pg_replicator_changes_captured_total{operation="delete"}'), 1);
    assert.ok((value('pg_replicator_connections_opened_total{database="primary"}') ?? 0) >= 1);
    const batches = service.status.snapshot().batches;
    assert.ok(batches >= 3, `three separate writes make at least three batches (${batches})`);
    assert.equal(value('pg_replicator_batches_total'), batches);
    assert.equal(value('pg_replicator_batch_changes_count'), batches);
    assert.equal(value('pg_replicator_batch_changes_sum'), 5);
    assert.equal(value('pg_replicator_apply_duration_seconds_count'), batches);
    assert.ok((value('pg_replicator_apply_duration_seconds_sum') ?? 0) > 0);
    // Every batch that carried changes has a lag (the three writes at least); a copy-only batch has none.
    const lagged = value('pg_replicator_batch_lag_seconds_count') ?? 0;
    assert.ok(lagged >= 3 && lagged <= batches, `lag observed per batch with changes (${lagged} of ${batches})`);
    assert.equal(value('pg_replicator_batch_changes_bucket{le="+Inf"}'), batches);
    assert.equal(value('pg_replicator_state{state="running"}'), 1);
    assert.equal(value('pg_replicator_state{state="failing"}'), 0);
    assert.ok((value('pg_replicator_last_batch_timestamp_seconds') ?? 0) > Date.now() / 1000 - 60);
    assert.equal(value('pg_replicator_errors_total{code="CHANGE_REJECTED"}'), 0);

    await waitFor('both databases reported up', async () => {
      const s = (await scrape()).samples;
      return s.get('pg_replicator_database_up{database="primary"}') === 1 &&
        s.get('pg_replicator_database_up{database="replica"}') === 1 &&
        s.get('pg_replicator_backlog_changes') === 0
        ? s
        : undefined;
    });
  });

  it('counts a rejected change under its error code and shows the failing state', async () => {
    await servers.replicaSql.query("ALTER TABLE users ADD CONSTRAINT no_mallory CHECK (name <> 'Mallory')");
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Mallory', 'mallory@m.example')");
    const failing = await waitFor('CHANGE_REJECTED counted', async () => {
      const { samples } = await scrape();
      return (samples.get('pg_replicator_errors_total{code="CHANGE_REJECTED"}') ?? 0) >= 1 ? samples : undefined;
    });
    assert.equal(failing.get('pg_replicator_state{state="failing"}'), 1);
    assert.equal(failing.get('pg_replicator_state{state="running"}'), 0);
    assert.equal(failing.get('pg_replicator_errors_total{code="DATABASE_UNREACHABLE"}'), 0);

    await servers.replicaSql.query('ALTER TABLE users DROP CONSTRAINT no_mallory');
    await replicated(6);
    const { samples } = await scrape();
    assert.equal(samples.get('pg_replicator_state{state="running"}'), 1);
    assert.equal(samples.get('pg_replicator_changes_applied_total{table="users",operation="upsert"}'), 5);
  });

  it('reports initial-copy progress through the setter', async () => {
    service.metrics.setInitialCopyRows('users', 1234);
    const { samples } = await scrape();
    assert.equal(samples.get('pg_replicator_initial_copy_rows{table="users"}'), 1234);
  });

  it('serves an OpenAPI document generated from the route schemas', async () => {
    const response = await fetch(`${service.url}/openapi.json`);
    assert.equal(response.status, 200);
    const doc = (await response.json()) as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: Schema }> }> }>>;
    };
    interface Schema {
      properties: Record<string, { type: string | string[] }>;
      required?: string[];
    }
    assert.match(doc.openapi, /^3\./);
    assert.equal(doc.info.title, 'pg-replicator');
    for (const path of ['/status', '/health', '/metrics', '/']) assert.ok(doc.paths[path]?.get, `${path} is documented`);

    const statusSchema = doc.paths['/status']?.get?.responses['200']?.content['application/json']?.schema as Schema;
    // The Go demo's six fields, with its types.
    const demo: Record<string, string> = {
      last_lsn: 'string',
      last_sync_time: 'string',
      records_replicated: 'integer',
      error_count: 'integer',
      last_error: 'string',
      is_running: 'boolean',
    };
    for (const [field, type] of Object.entries(demo)) {
      const declared = statusSchema.properties[field]?.type;
      assert.ok([declared].flat().includes(type), `${field}: ${JSON.stringify(declared)} includes ${type}`);
      assert.ok(statusSchema.required?.includes(field), `${field} is required`);
    }
    // What the service sends is what the document says, field for field.
    const sent = (await (await fetch(`${service.url}/status`)).json()) as Record<string, unknown>;
    for (const field of Object.keys(sent)) assert.ok(field in statusSchema.properties, `${field} is documented`);
    for (const field of statusSchema.required ?? []) assert.ok(field in sent, `${field} is sent`);

    const health = doc.paths['/health']?.get?.responses;
    assert.ok(health?.['200'] && health['503'], '/health documents 200 and 503');
    assert.deepEqual(Object.keys(health['200'].content['application/json']?.schema.properties ?? {}).sort(), [
      'reason',
      'status',
    ]);
  });
});

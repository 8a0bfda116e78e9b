/**
 * Changes that cannot be applied stop replication at their batch, with the
 * cause in /status, /health and the log; nothing is skipped, and replication
 * resumes by itself once the cause is fixed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { TEST_LOGICAL } from '../support/capture-mode.js';
import { runCli } from '../support/cli.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

describe('rejected changes', () => {
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

  const health = async () => {
    const r = await fetch(`${service.url}/health`);
    return { code: r.status, body: (await r.json()) as { reason?: string } };
  };
  const equal = async () =>
    JSON.stringify(await tableText(servers.replicaSql, 'users')) === JSON.stringify(await tableText(servers.primarySql, 'users'));

  it('stops at a row the replica rejects and resumes when the constraint goes', async () => {
    await servers.replicaSql.query("ALTER TABLE users ADD CONSTRAINT no_mallory CHECK (name <> 'Mallory')");
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Mallory', 'm@reject.example')");
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Next', 'next@reject.example')");
    const failing = await waitFor('/health 503 naming the constraint', async () => {
      const h = await health();
      return h.code === 503 && /no_mallory/.test(h.body.reason ?? '') ? h : undefined;
    });
    assert.match(failing.body.reason ?? '', /replication failing: replica database .*no_mallory/);
    const status = service.status.snapshot();
    assert.equal(status.state, 'failing');
    assert.ok(status.error_count >= 1);
    assert.equal(status.last_error_code, 'CHANGE_REJECTED');
    assert.equal((await tableText(servers.replicaSql, 'users')).length, 0, 'the later change waits behind it, nothing skipped');
    if (!TEST_LOGICAL) {
      const waiting = await servers.primarySql.query('SELECT count(*)::int AS n FROM user_changes WHERE NOT processed');
      assert.equal(waiting.rows[0].n, 2);
    }

    await servers.replicaSql.query('ALTER TABLE users DROP CONSTRAINT no_mallory');
    await waitFor('both rows replicated', equal, 20_000);
    await waitFor('/health 200', async () => (await health()).code === 200);
  });

  it('a change-log row with an unknown operation only makes its key be read again: no divergence', async () => {
    // The log holds keys; rows are read from the table. A forged or edited log
    // row can make the replicator look at a key again, never write a value.
    await servers.primarySql.query("INSERT INTO user_changes (operation, user_id) VALUES ('UPSERT', 1), ('INSERT', 424242)");
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Behind', 'behind@reject.example')");
    await waitFor('replicated past the odd rows', equal, 20_000);
    assert.equal(service.status.state, 'running');
  });

  it('is refused at start when a replica column is missing, and resumes once added', async () => {
    await service.stop();
    await servers.replicaSql.query('ALTER TABLE users DROP COLUMN updated_at');
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms' });
    await waitFor('the schema error', async () => service.status.lastErrorCode === 'SCHEMA_MISMATCH');
    assert.match(
      service.status.lastError ?? '',
      /replica: table users has no column updated_at \(timestamp with time zone on the primary\); add it: ALTER TABLE "public"\."users" ADD COLUMN "updated_at" timestamp with time zone/,
    );
    await servers.primarySql.query("UPDATE users SET name = 'Renamed' WHERE name = 'Next'");
    await servers.replicaSql.query('ALTER TABLE users ADD COLUMN updated_at timestamptz');
    // Rows replicated before the column was dropped lost its values on the
    // replica (the user's own DDL); the change made meanwhile arrives whole.
    const renamed = "SELECT u::text AS r FROM users u WHERE name = 'Renamed'";
    const primaryRow = (await servers.primarySql.query(renamed)).rows[0]?.r;
    await waitFor(
      'resumed with the column',
      async () => (await servers.replicaSql.query(renamed)).rows[0]?.r === primaryRow,
      20_000,
    );
  });
});

describe('a missing replica table', () => {
  let servers: TestServers;
  let service: Service;
  before(async () => {
    servers = await startTestServers();
    await servers.replicaSql.query('DROP TABLE users');
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms' });
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  it('pauses naming the table and the fix, loses nothing, and resumes once it exists', async () => {
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('early', 'early@missing.example')");
    await waitFor('the schema error', async () => service.status.lastErrorCode === 'SCHEMA_MISSING');
    assert.match(service.status.lastError ?? '', /replica: table users does not exist; .*replicator add users/);
    const installed = await runCli(['install-replica', '--demo'], {
      PRIMARY_DATABASE_URL: servers.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicaUrl,
    });
    assert.equal(installed.code, 0, installed.stderr);
    await waitFor('the row replicated', async () => (await tableText(servers.replicaSql, 'users')).length === 1);
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
  });
});

describe('polling and retention', () => {
  let servers: TestServers;
  let service: Service;
  before(async () => {
    servers = await startTestServers();
    service = await startInProcess(servers, {
      USE_LISTEN: 'false',
      POLL_INTERVAL: '100ms',
      RETENTION: '0',
      PRUNE_INTERVAL: '100ms',
    });
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  it('replicates by polling alone and prunes acknowledged changes', async () => {
    await servers.primarySql.query(
      "INSERT INTO users (name, email) SELECT 'p' || g, 'p' || g || '@poll.example' FROM generate_series(1, 50) g",
    );
    await waitFor('50 rows by polling', async () => (await tableText(servers.replicaSql, 'users')).length === 50);
    await waitFor('the change log emptied by pruning', async () => {
      const { rows } = await servers.primarySql.query('SELECT count(*)::int AS n FROM user_changes');
      return rows[0].n === 0;
    });
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
  });
});

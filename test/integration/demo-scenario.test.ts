/**
 * The Go demo README's whole scenario, verbatim, through the real CLI and the
 * HTTP API: install both schemas (twice: idempotent), insert, see the change
 * log, replicate, /status with the demo's field names and types, update,
 * delete, /health, `replicator status`, a clean SIGTERM stop, and cleanup.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningReplicator, runCli, startReplicator } from '../support/cli.js';
import { REPLICATOR_ROLE, startTestServers, TEST_PASSWORD, type TestServers, tableText, waitFor } from '../support/servers.js';

describe('the Go demo README, end to end', () => {
  let servers: TestServers;
  let replicator: RunningReplicator | undefined;
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers({ install: false });
    env = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
  });
  after(async () => {
    await replicator?.stop();
    await servers.stop();
  });

  it('installs both schemas with the CLI, idempotently', async () => {
    // The old names, then `init`: the second run changes nothing.
    const primary = await runCli(['install-primary', '--demo'], env);
    assert.equal(primary.code, 0, primary.stderr);
    const replica = await runCli(['install-replica', '--demo'], env);
    assert.equal(replica.code, 0, replica.stderr);
    const again = await runCli(['init', '--demo'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /primary: pg-replicator's objects installed \(already up to date\)/);
    const triggers = await servers.primarySql.query("SELECT * FROM pg_trigger WHERE tgname LIKE '%user%';");
    const names = triggers.rows.map((r) => r.tgname).sort();
    assert.ok(names.includes('users_change_trigger'));
    assert.ok(names.includes('update_users_updated_at'));
    const replicaTriggers = await servers.replicaSql.query("SELECT * FROM pg_trigger WHERE tgname LIKE '%user%';");
    assert.equal(replicaTriggers.rowCount, 0, 'the replica has no triggers');
  });

  it('grants a non-superuser replicator login exactly what it needs', async () => {
    for (const client of [servers.primarySql, servers.replicaSql]) {
      await client.query(`CREATE ROLE ${REPLICATOR_ROLE} LOGIN PASSWORD '${TEST_PASSWORD}'`);
    }
    const printed = await runCli(['privileges', '--primary-role', REPLICATOR_ROLE, '--replica-role', REPLICATOR_ROLE], env);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /SELECT replicator\.grant_replicator\('replicator_login'\)/);
    assert.match(printed.stdout, /SELECT replicator\.grant_table\('public', 'users', 'replicator_login'\);/);
    const applied = await runCli(
      ['privileges', '--primary-role', REPLICATOR_ROLE, '--replica-role', REPLICATOR_ROLE, '--apply'],
      env,
    );
    assert.equal(applied.code, 0, applied.stderr);
    const rights = await servers.primarySql.query(
      `SELECT has_table_privilege($1, 'user_changes', 'INSERT') AS insert_log, has_table_privilege($1, 'users', 'UPDATE') AS update_users,
              has_column_privilege($1, 'user_changes', 'processed', 'UPDATE') AS mark_processed`,
      [REPLICATOR_ROLE],
    );
    assert.deepEqual(rights.rows[0], { insert_log: false, update_users: false, mark_processed: true });
  });

  it('captures the three inserts in user_changes', async () => {
    await servers.primarySql.query(`-- Insert test users
INSERT INTO users (name, email) VALUES 
    ('Alice Johnson', 'alice@example.com'),
    ('Bob Smith', 'bob@example.com'),
    ('Charlie Brown', 'charlie@example.com');`);
    const changes = await servers.primarySql.query('SELECT * FROM user_changes WHERE processed = false;');
    assert.equal(changes.rowCount, 3);
    assert.deepEqual(
      changes.rows.map((r) => r.operation),
      ['INSERT', 'INSERT', 'INSERT'],
    );
  });

  it('replicates them and reports /status in the demo shape', async () => {
    // The service runs as the least-privilege login, not as the owner.
    replicator = await startReplicator({
      PRIMARY_DATABASE_URL: servers.primaryUrl.replace('://postgres:', `://${REPLICATOR_ROLE}:`),
      REPLICA_DATABASE_URL: servers.replicaUrl.replace('://postgres:', `://${REPLICATOR_ROLE}:`),
    });
    await waitFor('3 users on the replica', async () => {
      const { rows } = await servers.replicaSql.query('SELECT * FROM users ORDER BY user_id;');
      return rows.length === 3;
    });
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));

    const response = await fetch(`${replicator.apiUrl}/status`);
    assert.equal(response.status, 200);
    const status = (await response.json()) as Record<string, unknown>;
    assert.equal(typeof status.last_lsn, 'string');
    assert.equal(status.last_lsn, '3');
    assert.match(String(status.last_sync_time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.equal(status.records_replicated, 3);
    assert.equal(status.error_count, 0);
    assert.equal(status.last_error, null);
    assert.equal(status.is_running, true);
    assert.equal(typeof status.lag_ms, 'number');
    assert.ok('backlog' in status);

    await waitFor('changes acknowledged on the primary', async () => {
      const { rows } = await servers.primarySql.query('SELECT * FROM user_changes WHERE processed = false;');
      return rows.length === 0;
    });
  });

  it('replicates the update and the delete', async () => {
    await servers.primarySql.query(`-- Update a record
UPDATE users SET email = 'alice.j@example.com' WHERE name = 'Alice Johnson';`);
    await servers.primarySql.query(`-- Delete a record
DELETE FROM users WHERE name = 'Charlie Brown';`);
    await waitFor('update and delete on the replica', async () => {
      const rows = await tableText(servers.replicaSql, 'users');
      return rows.length === 2 && rows[0]?.includes('alice.j@example.com');
    });
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
    const primaryUpdatedAt = await servers.primarySql.query(
      "SELECT updated_at > created_at AS bumped FROM users WHERE name = 'Alice Johnson'",
    );
    assert.equal(primaryUpdatedAt.rows[0].bumped, true, 'update_users_updated_at ran on the primary');
  });

  it('answers /health and `replicator status`', async () => {
    assert.ok(replicator);
    await waitFor('/health 200', async () => (await fetch(`${replicator?.apiUrl}/health`)).status === 200);
    const health = (await (await fetch(`${replicator.apiUrl}/health`)).json()) as { status: string };
    assert.equal(health.status, 'ok');

    const json = await runCli(['status', '--json', '--url', replicator.apiUrl], {});
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).records_replicated, 5);
    const table = await runCli(['status', '--url', replicator.apiUrl], {});
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /records replicated\s+5/);
    assert.match(table.stdout, /state\s+running/);
  });

  it('stops cleanly on SIGTERM and never printed the password', async () => {
    assert.ok(replicator);
    const exit = await replicator.stop();
    assert.equal(exit.code, 0, replicator.output());
    assert.doesNotMatch(replicator.output(), new RegExp(TEST_PASSWORD));
    assert.match(replicator.output(), /stopped/);
    replicator = undefined;
  });

  it('runs the README cleanup verbatim', async () => {
    await servers.primarySql.query(`-- On primary
DROP TRIGGER IF EXISTS users_change_trigger ON users;
DROP TRIGGER IF EXISTS update_users_updated_at ON users;
DROP TABLE IF EXISTS user_changes;
DROP TABLE IF EXISTS users;
DROP FUNCTION IF EXISTS track_user_changes();
DROP FUNCTION IF EXISTS update_updated_at_column();`);
    await servers.replicaSql.query(`-- On replica
DROP TABLE IF EXISTS users;`);
    const left = await servers.primarySql.query("SELECT to_regclass('users') AS t, to_regclass('user_changes') AS c");
    assert.deepEqual(left.rows[0], { t: null, c: null });
  });
});

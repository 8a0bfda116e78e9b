/**
 * The libpq environment through the real command: a URL with gaps is filled
 * from PGHOST, PGPORT, PGUSER and the password file (PGPASSFILE), the service
 * replicates with it, and application_name tells the service (pg-replicator)
 * from a CLI command (pg-replicator add) in pg_stat_activity.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_FROM_SOURCE, childEnv, runCli, startReplicator } from '../support/cli.js';
import { startTestServers, TEST_PASSWORD, type TestServers, tableText, waitFor } from '../support/servers.js';

describe('libpq environment', () => {
  let servers: TestServers;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers();
    dir = mkdtempSync(path.join(tmpdir(), 'pg-replicator-libpq-'));
    const passfile = path.join(dir, 'pgpass');
    writeFileSync(passfile, `# host:port:database:user:password\n127.0.0.1:*:*:postgres:${TEST_PASSWORD.replace(':', '\\:')}\n`);
    chmodSync(passfile, 0o600);
    // The primary's URL names only the database; the replica's names host and port. The rest is libpq's environment.
    env = {
      PRIMARY_DATABASE_URL: 'postgresql:///postgres',
      REPLICA_DATABASE_URL: `postgresql://127.0.0.1:${servers.replica.port}/postgres`,
      PGHOST: '127.0.0.1',
      PGPORT: String(servers.primary.port),
      PGUSER: 'postgres',
      PGPASSFILE: passfile,
    };
  });
  after(async () => {
    await servers.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fills the URLs from PGHOST, PGPORT, PGUSER and the password file, and replicates', async () => {
    const install = await runCli(['install-primary'], env);
    assert.equal(install.code, 0, install.stderr);
    const replicator = await startReplicator(env);
    try {
      await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('libpq', 'libpq@example.com')");
      await waitFor('the row on the replica', async () => (await tableText(servers.replicaSql, 'users')).length === 1);
      const { rows } = await servers.primarySql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg-replicator' AND usename = 'postgres'",
      );
      assert.ok((rows[0]?.n ?? 0) >= 1, 'the service is named pg-replicator');
    } finally {
      await replicator.stop();
    }
  });

  it('names a CLI command after itself: pg-replicator add', async () => {
    await servers.primarySql.query('CREATE TABLE named (id int PRIMARY KEY); INSERT INTO named VALUES (1)');
    // No replicator runs, so `add` waits for the initial copy: long enough to be seen.
    const child = spawn(process.execPath, [...CLI_FROM_SOURCE, 'add', 'named'], { env: childEnv(env), stdio: 'ignore' });
    try {
      await waitFor('pg-replicator add on the replica', async () => {
        const { rows } = await servers.replicaSql.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg-replicator add'",
        );
        return (rows[0]?.n ?? 0) >= 1;
      });
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('says where a password could have come from when none did', async () => {
    const result = await runCli(['install-primary'], { ...env, PGUSER: 'nobody_known' });
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(
      result.stderr,
      /^error \[AUTH_FAILED\]: primary database .*asks for a password and none is given \(no line of .*pgpass matches 127\.0\.0\.1:\d+:postgres:nobody_known\)/,
    );
  });
});

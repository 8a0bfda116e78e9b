/**
 * A table rewritten on the primary (ALTER COLUMN TYPE) while a batch of its
 * changes is being read: PostgreSQL's rewrites are not MVCC-safe, so a batch
 * whose snapshot predates the rewrite's commit, reading the table after it,
 * would find it empty and delete every changed row on the replica, silently.
 * The batch locks its tables before taking its snapshot
 * (src/db/lock-before-snapshot.ts); this test builds the exact interleaving:
 * the rewrite waits on the previous batch, commits once the next batch has
 * started and queued behind it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Service } from '../../src/service.js';
import { runCli } from '../support/cli.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

describe('a table rewritten while its changes are read', () => {
  let servers: TestServers;
  let service: Service;
  const sessions: pg.Client[] = [];

  const session = async (url: string) => {
    const client = new pg.Client(url);
    client.on('error', () => {});
    await client.connect();
    sessions.push(client);
    return client;
  };
  /** Backends other than `except` waiting for a lock. */
  const waitingForLock = async (sql: pg.Client, except: number[]) => {
    const { rows } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> ALL ($1::int[])`,
      [except],
    );
    return (rows[0]?.n ?? 0) > 0;
  };
  const backendPid = async (client: pg.Client) =>
    (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;

  before(async () => {
    servers = await startTestServers();
    // USE_LISTEN=false (as behind a transaction-mode pooler): every batch is read in one held snapshot.
    service = await startInProcess(servers, { USE_LISTEN: 'false', POLL_INTERVAL: '50ms' });
  });
  after(async () => {
    for (const client of sessions) await client.end().catch(() => {});
    await service.stop();
    await servers.stop();
  });

  it('keeps every row: the batch waits for the rewrite and reads the table after it', async () => {
    const table = 'CREATE TABLE w (id int PRIMARY KEY, n int, s text)';
    await servers.primarySql.query(`${table}; INSERT INTO w SELECT g, g, 'seed' FROM generate_series(1, 20) g`);
    await servers.replicaSql.query(table);
    const added = await runCli(['add', 'w', '--no-wait'], {
      PRIMARY_DATABASE_URL: servers.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicaUrl,
    });
    assert.equal(added.code, 0, added.stderr);
    const same = async () =>
      JSON.stringify(await tableText(servers.replicaSql, 'w')) === JSON.stringify(await tableText(servers.primarySql, 'w'));
    await waitFor('w copied', same);

    // 1. The replica's table locked: the next batch is held open on the primary while it waits to apply.
    const replicaLock = await session(servers.replicaUrl);
    await replicaLock.query('BEGIN; LOCK TABLE w IN ACCESS EXCLUSIVE MODE');
    const replicaLockPid = await backendPid(replicaLock);
    await servers.primarySql.query("UPDATE w SET s = 'first batch' WHERE id = 20");
    await waitFor('a batch waiting to apply', () => waitingForLock(servers.replicaSql, [replicaLockPid]));

    // 2. Changes the next batch will carry, then the rewrite, queued behind the held batch.
    await servers.primarySql.query("UPDATE w SET s = 'second batch' WHERE id <= 10");
    const ddl = await session(servers.primaryUrl);
    await ddl.query('BEGIN');
    const rewritten = ddl.query('ALTER TABLE w ALTER COLUMN n TYPE bigint');

    // 3. The held batch applies; the rewrite runs (uncommitted); the next batch starts and waits on it.
    await replicaLock.query('COMMIT');
    await rewritten;
    const ddlPid = await backendPid(ddl);
    await waitFor('the next batch waiting on the rewrite', () => waitingForLock(servers.primarySql, [ddlPid]));
    await ddl.query('COMMIT');

    // The replica follows the type change (replication pauses for it meanwhile), then holds every row.
    await servers.replicaSql.query('ALTER TABLE w ALTER COLUMN n TYPE bigint');
    await waitFor('w replicated with every row', same, 30_000);
    assert.equal((await tableText(servers.replicaSql, 'w')).length, 20);
  });
});

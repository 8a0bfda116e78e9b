/**
 * Initial copies meet the stream exactly, logical mode: a table with rows is
 * added while a writer inserts, updates and deletes in it and in another
 * table, and it is copied in many chunks (each its own snapshot and WAL
 * watermark); the replica ends equal (a chunk applied after the batch's
 * deletes would bring deleted rows back). A SIGKILL after a chunk's commit
 * resumes after that chunk. An UPDATE of a row not copied yet that leaves a
 * TOASTed value out is left to the copy. Removing the
 * last table drops the publication, and the replicator drops its slot.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { addTable, removeTable } from '../../src/capture/replication-set.js';
import { Database } from '../../src/db/database.js';
import type { Service } from '../../src/service.js';
import { exitedWithin, type RunningReplicator, startReplicator } from '../support/cli.js';
import { type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

/** Runs `step(client, n)` for n = 1, 2, … on a connection of its own until `stop()`, which says how many ran. */
async function keepWriting(url: string, step: (client: pg.Client, n: number) => Promise<unknown>) {
  const client = new pg.Client(url);
  await client.connect();
  let writing = true;
  let n = 0;
  const writes = (async () => {
    while (writing) await step(client, ++n);
  })();
  writes.catch(() => {}); // seen by stop()
  let stopped: Promise<number> | undefined;
  const stop = async () => {
    writing = false;
    try {
      await writes;
    } finally {
      await client.end();
    }
    return n;
  };
  return { stop: () => (stopped ??= stop()) };
}

describe('logical mode: initial copies under writes', () => {
  let servers: TestServers;
  let service: Service | undefined;

  const equal = (table: string) => async () =>
    JSON.stringify(await tableText(servers.replicaSql, table)) === JSON.stringify(await tableText(servers.primarySql, table));
  const copyDone = (table: string) => async () =>
    (await servers.replicaSql.query('SELECT done FROM replicator.copy_progress WHERE table_name = $1', [table])).rows[0]?.done ===
    true;
  const owner = () => ({
    primary: new Database({ url: servers.primaryUrl, role: 'primary' }),
    replica: new Database({ url: servers.replicaUrl, role: 'replica' }),
  });

  before(async () => {
    servers = await startLogicalServers();
    for (const c of [servers.primarySql, servers.replicaSql]) {
      await c.query('CREATE TABLE public.accounts (id int PRIMARY KEY, balance bigint NOT NULL, note text)');
    }
    await servers.primarySql.query("INSERT INTO public.accounts SELECT g, g * 10, 'n' || g FROM generate_series(1, 30000) g");
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  it('copies a table added while writes go on, chunk by chunk, and ends equal', async () => {
    service = await startInProcess(servers, { ...LOGICAL_ENV, COPY_CHUNK_ROWS: '2000' });
    await waitFor('streaming', async () => service?.status.snapshot().batches !== 0);
    const writer = await keepWriting(servers.primaryUrl, (client, n) => {
      const id = 1 + ((n * 7919) % 30000);
      return client.query(
        `BEGIN;
           UPDATE public.accounts SET balance = balance + 1, note = note || '.' WHERE id = ${id};
           DELETE FROM public.accounts WHERE id = ${1 + ((id * 31) % 30000)};
           INSERT INTO public.accounts VALUES (${30000 + n}, ${n}, 'new') ON CONFLICT (id) DO NOTHING;
           INSERT INTO users (name, email) VALUES ('u${n}', 'u${n}@copy.example');
           COMMIT`,
      );
    });
    const o = owner();
    try {
      await addTable(o.primary, o.replica, 'public.accounts');
    } finally {
      await Promise.all([o.primary.end(), o.replica.end()]);
    }
    await waitFor('the copy done', copyDone('accounts'), 60_000);
    const progress = await servers.replicaSql.query(
      "SELECT rows_copied::int AS n FROM replicator.copy_progress WHERE table_name = 'accounts'",
    );
    assert.ok(progress.rows[0].n >= 29000, `copied ${progress.rows[0].n} rows`);
    const n = await writer.stop();
    assert.ok(n > 20, `the writer made ${n} transactions during the copy`);
    await waitFor('accounts equal', equal('public.accounts'), 30_000);
    await waitFor('users equal', equal('users'), 30_000);
  });

  it('resumes a copy after a SIGKILL following a chunk commit', async () => {
    await service?.stop();
    service = undefined;
    await servers.primarySql.query("SELECT replicator.request_copy('public', 'accounts')");
    const env = {
      ...LOGICAL_ENV,
      COPY_CHUNK_ROWS: '5000',
      PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicator.replicaUrl,
    };
    const crashing = await startReplicator({ ...env, PG_REPLICATOR_FAULT_POINT: 'after-replica-commit' });
    assert.equal((await exitedWithin(crashing)).signal, 'SIGKILL', crashing.output());
    await servers.primarySql.query('UPDATE public.accounts SET balance = -balance WHERE id % 1000 = 0');
    const replicator = await startReplicator(env);
    try {
      await waitFor('the copy done', copyDone('accounts'), 60_000);
      await waitFor('accounts equal', equal('public.accounts'), 30_000);
    } finally {
      await replicator.stop();
    }
  });

  it('a copy waiting for older transactions holds no other change back; a stream cut meanwhile is started again, and the copy completes', async () => {
    let replicator: RunningReplicator | undefined;
    try {
      // A transaction older than the copy's start: the copy waits for it to end before taking its snapshot.
      const older = new pg.Client(servers.primaryUrl);
      await older.connect();
      try {
        await older.query('BEGIN');
        // Its rows reach the replica only through a working stream.
        await older.query("UPDATE public.accounts SET note = note || '!' WHERE id % 997 = 0");
        const olderPid = (await older.query<{ pid: number }>('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0]?.pid;
        await servers.primarySql.query("SELECT replicator.request_copy('public', 'accounts')");
        replicator = await startReplicator({
          ...LOGICAL_ENV,
          COPY_CHUNK_ROWS: '5000',
          PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
          REPLICA_DATABASE_URL: servers.replicator.replicaUrl,
        });
        const running = replicator;
        // After 10 s the wait is told, naming the transaction it waits for.
        await waitFor(
          'the warning naming the older transaction',
          async () => running.output().includes(`pid ${olderPid} (`),
          20_000,
        ).catch((error: Error) => {
          throw new Error(`${error.message}; its output:\n${running.output().slice(-3000)}`);
        });
        // The copy waits; replication does not: changes made now reach the replica meanwhile, the
        // copied table's too (its copy, when it comes, supersedes them).
        await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('waiting', 'waiting@copy.example')");
        await servers.primarySql.query('UPDATE public.accounts SET balance = balance + 5 WHERE id % 1009 = 0');
        await waitFor(
          'a change made while the copy waits, on the replica',
          async () => (await servers.replicaSql.query("SELECT 1 FROM users WHERE email = 'waiting@copy.example'")).rowCount === 1,
          15_000,
        );
        await waitFor(
          'the copy waiting for the older transaction',
          async () =>
            (
              await servers.primarySql.query(
                "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pg-replicator%' AND query LIKE '%pg_snapshot_xmax%'",
              )
            ).rowCount !== 0,
        );
        // Meanwhile the stream is cut: a snapshot taken now would wait for a watermark no stream carries.
        const { rows } = await servers.primarySql.query<{ pid: number }>(
          'SELECT active_pid AS pid FROM pg_replication_slots WHERE active',
        );
        const walsender = rows[0]?.pid;
        assert.ok(walsender, 'the slot is streamed');
        await servers.primarySql.query('SELECT pg_catalog.pg_terminate_backend($1)', [walsender]);
        await waitFor(
          'the walsender gone',
          async () =>
            (await servers.primarySql.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [walsender])).rowCount === 0,
        );
        await older.query('COMMIT');
      } finally {
        await older.end();
      }
      await waitFor('the copy done', copyDone('accounts'), 30_000);
      await waitFor('accounts equal', equal('public.accounts'), 30_000);
      // No snapshot is left open on the primary.
      await waitFor(
        'no replicator transaction left open',
        async () =>
          (
            await servers.primarySql.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pg-replicator%' AND state = 'idle in transaction'",
            )
          ).rowCount === 0,
      );
    } finally {
      await replicator?.stop();
    }
  });

  it('an UPDATE leaving a TOASTed NOT NULL value out, of a row not copied yet, is left to the copy', async () => {
    // pgoutput does not repeat a TOASTed value an UPDATE left alone; the apply takes it from the
    // replica's row, which a row in a range not copied yet does not have.
    for (const c of [servers.primarySql, servers.replicaSql]) {
      await c.query('CREATE TABLE public.docs (id int PRIMARY KEY, n int NOT NULL, body text NOT NULL)');
    }
    // About 4 kB of hex per row: stored out of line (TOAST), not compressed under the threshold.
    await servers.primarySql.query(
      `INSERT INTO public.docs SELECT g, 0, (SELECT string_agg(md5(g::text || ':' || i), '') FROM generate_series(1, 128) i)
         FROM generate_series(1, 3000) g`,
    );
    await service?.stop();
    service = await startInProcess(servers, { ...LOGICAL_ENV, COPY_CHUNK_ROWS: '250' });
    // The last rows in key order: copied last, updated all through the copy.
    const writer = await keepWriting(servers.primaryUrl, (client, n) =>
      client.query('UPDATE public.docs SET n = n + 1 WHERE id = $1', [3000 - (n % 50)]),
    );
    try {
      const o = owner();
      try {
        await addTable(o.primary, o.replica, 'public.docs');
      } finally {
        await Promise.all([o.primary.end(), o.replica.end()]);
      }
      await waitFor('the copy done', copyDone('docs'), 60_000).catch((error: Error) => {
        throw new Error(`${error.message}; last error: ${service?.status.snapshot().last_error}`);
      });
      const n = await writer.stop();
      assert.ok(n > 20, `the writer made ${n} updates during the copy`);
      await waitFor('docs equal', equal('public.docs'), 30_000);
      assert.equal(service?.status.snapshot().error_count, 0, String(service?.status.snapshot().last_error));
      // With no copy running, a row missing on the replica is an earlier divergence: such an UPDATE
      // of it is not applied (no row rebuilt with a NULL), it is logged, and replication goes on.
      await servers.replicaSql.query('DELETE FROM public.docs WHERE id = 7');
      await servers.primarySql.query('UPDATE public.docs SET n = n + 1 WHERE id = 7');
      await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('after', 'after@copy.example')");
      await waitFor(
        'the change after it, on the replica',
        async () => (await servers.replicaSql.query("SELECT 1 FROM users WHERE email = 'after@copy.example'")).rowCount === 1,
      );
      assert.equal((await servers.replicaSql.query('SELECT 1 FROM public.docs WHERE id = 7')).rowCount, 0);
      assert.equal(service?.status.snapshot().error_count, 0, String(service?.status.snapshot().last_error));
    } finally {
      await writer.stop().catch(() => {});
      await service?.stop();
      service = undefined;
    }
  });

  it('removing the last table drops the publication, and the replicator its slot', async () => {
    service = await startInProcess(servers, LOGICAL_ENV);
    await waitFor(
      'streaming',
      async () =>
        (await servers.primarySql.query('SELECT count(*)::int AS n FROM pg_replication_slots WHERE active')).rows[0].n === 1,
    );
    const o = owner();
    try {
      await removeTable(o.primary, { schema: 'public', name: 'accounts' });
      await removeTable(o.primary, { schema: 'public', name: 'users' });
      await removeTable(o.primary, { schema: 'public', name: 'docs' });
    } finally {
      await Promise.all([o.primary.end(), o.replica.end()]);
    }
    const pubs = await servers.primarySql.query("SELECT count(*)::int AS n FROM pg_publication WHERE pubname = 'pg_replicator'");
    assert.equal(pubs.rows[0].n, 0);
    await waitFor(
      'the slot dropped',
      async () => (await servers.primarySql.query('SELECT count(*)::int AS n FROM pg_replication_slots')).rows[0].n === 0,
      20_000,
    );
  });
});

/**
 * Logical mode end to end, in process, as the least-privilege login (with
 * REPLICATION): the demo's inserts, update, delete and TRUNCATE reach the
 * replica; a transaction over two tables lands in one replica transaction;
 * values arrive exactly (bigint past 2^53, numeric, timestamptz, json null,
 * arrays with bounds, bytea, text with COPY's special characters, -0, NaN);
 * a table added while streaming is copied and meets the stream; the slot's
 * confirmed position never passes what the replica committed; /status shows
 * the mode and the retained WAL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chooseCaptureMode } from '../../src/capture/choose-capture-mode.js';
import { addTable, removeTable } from '../../src/capture/replication-set.js';
import { Database } from '../../src/db/database.js';
import type { Service } from '../../src/service.js';
import { REPLICATOR_ROLE, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

describe('logical mode', () => {
  let servers: TestServers;
  let service: Service;

  const same = async (table: string, orderBy = '1') =>
    assert.deepEqual(await tableText(servers.replicaSql, table, orderBy), await tableText(servers.primarySql, table, orderBy));
  const converged = (table: string, orderBy = '1') =>
    waitFor(`${table} equal on both sides`, async () => {
      const [p, r] = await Promise.all([
        tableText(servers.primarySql, table, orderBy),
        tableText(servers.replicaSql, table, orderBy),
      ]);
      return JSON.stringify(p) === JSON.stringify(r);
    });

  before(async () => {
    servers = await startLogicalServers();
    await servers.primarySql.query(
      "INSERT INTO users (name, email) VALUES ('Alice Johnson', 'alice@example.com'), ('Bob Smith', 'bob@example.com')",
    );
    service = await startInProcess(servers, LOGICAL_ENV);
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  it('copies existing rows, then streams inserts, updates, deletes and TRUNCATE', async () => {
    await converged('users');
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Charlie Brown', 'charlie@example.com')");
    await servers.primarySql.query("UPDATE users SET email = 'alice.j@example.com' WHERE name = 'Alice Johnson'");
    await servers.primarySql.query("DELETE FROM users WHERE name = 'Bob Smith'");
    await converged('users');
    await same('users');
    await servers.primarySql.query('BEGIN; TRUNCATE users; INSERT INTO users (name, email) VALUES ($$Dana$$, $$d@x$$); COMMIT');
    await converged('users');
    assert.equal((await tableText(servers.replicaSql, 'users')).length, 1);
    const status = service.status.snapshot();
    assert.equal(status.capture_mode, 'logical');
    // No write cost: the capture triggers are off, the change log stays empty.
    const logged = await servers.primarySql.query('SELECT count(*)::int AS n FROM user_changes');
    assert.equal(logged.rows[0].n, 0);
    const slot = await servers.primarySql.query(
      "SELECT plugin, active FROM pg_replication_slots WHERE slot_name = 'pg_replicator'",
    );
    assert.deepEqual(slot.rows, [{ plugin: 'pgoutput', active: true }]);
  });

  it('applies a transaction over two tables in one replica transaction, keys changed twice ending as the primary left them', async () => {
    for (const [c, side] of [
      [servers.primarySql, 'primary'],
      [servers.replicaSql, 'replica'],
    ] as const) {
      await c.query(`CREATE TABLE public.orders (id int PRIMARY KEY, total numeric NOT NULL);
                     CREATE TABLE public.lines (order_id int, n int, item text, PRIMARY KEY (order_id, n))`);
      if (side === 'replica') {
        await c.query(`CREATE TABLE public.seen (tbl text, xid xid8);
          CREATE FUNCTION public.note() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO public.seen VALUES (TG_TABLE_NAME, pg_catalog.pg_current_xact_id()); RETURN NULL; END $$;
          CREATE TRIGGER note AFTER INSERT OR UPDATE OR DELETE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.note();
          CREATE TRIGGER note AFTER INSERT OR UPDATE OR DELETE ON public.lines FOR EACH ROW EXECUTE FUNCTION public.note();
          ALTER TABLE public.orders ENABLE ALWAYS TRIGGER note; ALTER TABLE public.lines ENABLE ALWAYS TRIGGER note;
          GRANT INSERT ON public.seen TO ${REPLICATOR_ROLE}`);
      }
    }
    const owner = {
      primary: new Database({ url: servers.primaryUrl, role: 'primary' }),
      replica: new Database({ url: servers.replicaUrl, role: 'replica' }),
    };
    try {
      await addTable(owner.primary, owner.replica, 'public.orders');
      await addTable(owner.primary, owner.replica, 'public.lines');
    } finally {
      await Promise.all([owner.primary.end(), owner.replica.end()]);
    }
    const members = await servers.primarySql.query(
      "SELECT tablename FROM pg_publication_tables WHERE pubname = 'pg_replicator' ORDER BY 1",
    );
    assert.deepEqual(
      members.rows.map((r) => r.tablename),
      ['lines', 'orders', 'users'],
    );
    await waitFor(
      'both new tables prepared',
      async () =>
        (
          await servers.replicaSql.query(
            "SELECT count(*)::int AS n FROM replicator.copy_progress WHERE done AND table_name IN ('orders', 'lines')",
          )
        ).rows[0].n === 2,
    );
    await servers.replicaSql.query('TRUNCATE public.seen');
    await servers.primarySql.query(`BEGIN;
      INSERT INTO public.orders VALUES (1, 10.50), (2, 3);
      INSERT INTO public.lines VALUES (1, 1, 'tea'), (1, 2, 'cake'), (2, 1, 'milk');
      UPDATE public.orders SET total = 11.00 WHERE id = 1;
      UPDATE public.lines SET n = 3 WHERE order_id = 1 AND n = 2;
      DELETE FROM public.orders WHERE id = 2; DELETE FROM public.lines WHERE order_id = 2;
      COMMIT`);
    await converged('public.orders');
    await converged('public.lines');
    const { rows } = await servers.replicaSql.query(
      'SELECT count(DISTINCT xid)::int AS n, array_agg(DISTINCT tbl ORDER BY tbl) AS t FROM public.seen',
    );
    assert.deepEqual(rows[0], { n: 1, t: ['lines', 'orders'] }, 'one replica transaction wrote both tables');
    assert.deepEqual(await tableText(servers.replicaSql, 'public.orders'), ['(1,11.00)']);
  });

  it('keeps every value exactly', async () => {
    for (const c of [servers.primarySql, servers.replicaSql]) {
      await c.query(`CREATE TABLE public.exact (
        id bigint PRIMARY KEY, n numeric, ts timestamptz, j json, jb jsonb, arr int[], b bytea, t text, f float8, iv interval, d date)`);
    }
    const owner = {
      primary: new Database({ url: servers.primaryUrl, role: 'primary' }),
      replica: new Database({ url: servers.replicaUrl, role: 'replica' }),
    };
    try {
      await addTable(owner.primary, owner.replica, 'public.exact');
    } finally {
      await Promise.all([owner.primary.end(), owner.replica.end()]);
    }
    // The writer's own settings must not matter: pgoutput prints with the stream's pinned ones.
    await servers.primarySql.query(`SET TimeZone = 'America/New_York'; SET DateStyle = 'SQL, DMY'; SET extra_float_digits = 0`);
    await servers.primarySql.query(`INSERT INTO public.exact VALUES
        (9007199254740993, 1.000000000000000000000000001, '2024-02-29 23:59:59.999999+05:30', 'null', '{"b": 1, "a": [1.10]}',
         '[0:2]={1,2,3}', '\\x00ff5c0a', E'tab\\there\\nnewline \\\\ back "quote" ''single''', '-0', '1 day 00:00:00.000001', 'infinity'),
        (-9223372036854775808, 'NaN', '-infinity', '{"k":  1,  "k": 2}', 'null', '{}', '', '', 'NaN', '-1 mon 2 days -00:00:01.5', '0001-01-01 BC'),
        (2, NULL, NULL, NULL, NULL, '{{1,NULL},{3,4}}', NULL, 'ü ∑ 😀', 1e-310, NULL, NULL)`);
    await servers.primarySql.query('RESET ALL');
    await converged('public.exact');
    await servers.primarySql.query("UPDATE public.exact SET t = t || E'\\r', j = '[ 1 , null ]' WHERE id = 2");
    await converged('public.exact');
    const { rows } = await servers.replicaSql.query(
      'SELECT id::text, arr::text, j::text, b::text FROM public.exact WHERE id = 9007199254740993',
    );
    assert.deepEqual(rows[0], { id: '9007199254740993', arr: '[0:2]={1,2,3}', j: 'null', b: '\\x00ff5c0a' });
  });

  it('fills in TOASTed values an UPDATE left unchanged (no REPLICA IDENTITY FULL), in chains and across key changes', async () => {
    for (const c of [servers.primarySql, servers.replicaSql]) {
      await c.query('CREATE TABLE public.docs (id int PRIMARY KEY, n int, body text, meta jsonb)');
    }
    const owner = {
      primary: new Database({ url: servers.primaryUrl, role: 'primary' }),
      replica: new Database({ url: servers.replicaUrl, role: 'replica' }),
    };
    try {
      await addTable(owner.primary, owner.replica, 'public.docs');
    } finally {
      await Promise.all([owner.primary.end(), owner.replica.end()]);
    }
    // Far above the TOAST threshold, and random enough not to compress below it.
    const big = "(SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 600) g)";
    await servers.primarySql.query(
      `INSERT INTO public.docs VALUES (1, 0, ${big}, (SELECT jsonb_agg(md5(g::text)) FROM generate_series(1, 400) g)), (2, 0, ${big}, NULL)`,
    );
    await converged('public.docs');
    // Unchanged in a batch of its own: from the replica's row.
    await servers.primarySql.query('UPDATE public.docs SET n = 1 WHERE id = 1');
    await converged('public.docs');
    // Inserted and updated in one transaction, updated twice more, moved to another key: from the batch's earlier lines.
    await servers.primarySql.query(`BEGIN;
      INSERT INTO public.docs VALUES (3, 0, ${big}, NULL);
      UPDATE public.docs SET n = n + 1 WHERE id = 3;
      UPDATE public.docs SET n = n + 1 WHERE id = 3;
      UPDATE public.docs SET id = 30 WHERE id = 3;
      UPDATE public.docs SET id = 20, n = 7 WHERE id = 2;
      UPDATE public.docs SET n = 8 WHERE id = 20;
      COMMIT`);
    await converged('public.docs');
    const { rows } = await servers.replicaSql.query('SELECT id, n, length(body) AS len FROM public.docs ORDER BY id');
    assert.deepEqual(
      rows.map((r) => [r.id, r.n, r.len]),
      [
        [1, 1, 19200],
        [20, 8, 19200],
        [30, 2, 19200],
      ],
    );
  });

  it('confirms to the slot no more than the replica committed, and shows the retained WAL', async () => {
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Eve', 'eve@x')");
    await converged('users');
    await waitFor('retained WAL measured', async () => typeof service.status.snapshot().retained_wal_bytes === 'number', 10_000);
    const status = (await (await fetch(`${service.url}/status`)).json()) as Record<string, unknown>;
    assert.equal(status.capture_mode, 'logical');
    assert.equal(typeof status.retained_wal_bytes, 'number');
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    assert.match(metrics, /^pg_replicator_slot_retained_wal_bytes \d+/m);
    const { rows } = await servers.primarySql.query(
      "SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = 'pg_replicator'",
    );
    const position = await servers.replicaSql.query('SELECT lsn::text AS l, mode FROM replicator.position');
    assert.equal(position.rows[0].mode, 'logical');
    const cmp = await servers.primarySql.query('SELECT $1::pg_lsn <= pg_current_wal_lsn() AS ok', [rows[0].c]);
    assert.equal(cmp.rows[0].ok, true);
  });

  it('keeps the publication equal to the replication set on remove', async () => {
    const owner = new Database({ url: servers.primaryUrl, role: 'primary' });
    try {
      await removeTable(owner, { schema: 'public', name: 'lines' });
    } finally {
      await owner.end();
    }
    const members = await servers.primarySql.query(
      "SELECT tablename FROM pg_publication_tables WHERE pubname = 'pg_replicator' ORDER BY 1",
    );
    assert.deepEqual(
      members.rows.map((r) => r.tablename),
      ['docs', 'exact', 'orders', 'users'],
    );
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('After remove', 'ar@x')");
    await converged('users');
  });

  it('CAPTURE_MODE=auto: logical where the primary allows it, else trigger with the reason', async () => {
    const login = new Database({ url: servers.replicator.primaryUrl, role: 'primary' });
    try {
      const allowed = await chooseCaptureMode(login, 'auto', 'pg_replicator');
      assert.equal(allowed.mode, 'logical', allowed.reason);
      await servers.primarySql.query(`ALTER ROLE ${REPLICATOR_ROLE} NOREPLICATION`);
      const refused = await chooseCaptureMode(login, 'auto', 'pg_replicator');
      assert.equal(refused.mode, 'trigger');
      assert.match(refused.reason, /may not use replication slots \(ALTER ROLE <login> REPLICATION/);
      await assert.rejects(chooseCaptureMode(login, 'logical', 'pg_replicator'), /CAPTURE_MODE: logical, but/);
    } finally {
      await servers.primarySql.query(`ALTER ROLE ${REPLICATOR_ROLE} REPLICATION`);
      await login.end();
    }
  });
});

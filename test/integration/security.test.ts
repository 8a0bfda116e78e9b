/**
 * The capture and the apply are not a way in. Each test performs an attack
 * found in review and shows it fails:
 * - a writer that may only INSERT into a replicated table shadows the change
 *   log with a temporary table whose trigger would make it superuser;
 * - a role that may create objects in public plants exact-type overloads of
 *   the functions the read and the apply call, on both servers, also for a
 *   session that does not pin search_path (a transaction-mode pooler);
 * - every SECURITY DEFINER function the replicator installs pins search_path.
 * And the application's writes never fail because of the capture: tables
 * keyed by extension types, and two-phase commit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Service } from '../../src/service.js';
import { BYSTANDER } from '../support/bystander-traps.js';
import { runCli } from '../support/cli.js';
import { REPLICATOR_ROLE, startTestServers, TEST_PASSWORD, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

const WRITER = 'app_writer';

describe('security', () => {
  let servers: TestServers;
  let service: Service | undefined;
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers({ settings: { max_prepared_transactions: '5' } });
    env = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    for (const sql of [servers.primarySql, servers.replicaSql]) {
      // The bystander (test/support/bystander-traps.ts) is there already, with its traps log.
      await sql.query(`CREATE ROLE ${WRITER} LOGIN PASSWORD '${TEST_PASSWORD}'`);
    }
    await servers.primarySql.query(`GRANT INSERT, UPDATE, DELETE, SELECT ON users TO ${WRITER};
      GRANT USAGE ON SEQUENCE users_user_id_seq TO ${WRITER}`);
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  const as = async <T>(role: string, server: 'primary' | 'replica', work: (c: pg.Client) => Promise<T>): Promise<T> => {
    const base = server === 'primary' ? servers.primaryUrl : servers.replicaUrl;
    const client = new pg.Client(base.replace('://postgres:', `://${role}:`));
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  const trapsFired = async () => [
    ...(await servers.primarySql.query('SELECT what FROM bystander.traps')).rows.map((r) => `primary: ${r.what}`),
    ...(await servers.replicaSql.query('SELECT what FROM bystander.traps')).rows.map((r) => `replica: ${r.what}`),
  ];

  it("the bystander's traps (planted for every test file) catch a query that resolves through public", async () => {
    await servers.primarySql.query(`SET search_path = public;
      SELECT unnest(ARRAY[1, 2]), array_length(ARRAY[1], 1), to_jsonb('x'::text);
      SELECT array_agg(g), ARRAY[g] = ARRAY[g] FROM generate_series(1, 2) g GROUP BY g;
      RESET search_path`);
    const fired = [...new Set(await trapsFired())].sort();
    await servers.primarySql.query('DELETE FROM bystander.traps');
    assert.deepEqual(fired, [
      'primary: =(integer[], integer[])',
      'primary: array_agg(integer)',
      'primary: array_length(integer[], integer)',
      'primary: to_jsonb(text)',
      'primary: unnest(integer[])',
    ]);
  });

  it('every SECURITY DEFINER function it installs pins search_path = pg_catalog, pg_temp', async () => {
    await servers.primarySql.query('CREATE TABLE parts (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)');
    const added = await runCli(['add', 'parts', '--no-wait'], env);
    assert.equal(added.code, 0, added.stderr);
    for (const sql of [servers.primarySql, servers.replicaSql]) {
      const { rows } = await sql
        .query<{ fn: string; config: string[] | null }>(
          `SELECT p.oid::regprocedure::text AS fn, p.proconfig AS config FROM pg_proc p
         WHERE p.prosecdef AND (p.pronamespace = 'replicator'::regnamespace
           OR p.oid IN (SELECT format('%I.%I', t.function_schema, t.function_name)::regproc::oid FROM replicator.tables t))`,
        )
        .catch(() => ({ rows: [] as Array<{ fn: string; config: string[] | null }> }));
      for (const row of rows) {
        assert.ok(row.config?.includes('search_path=pg_catalog, pg_temp'), `${row.fn} pins search_path: ${row.config}`);
      }
      // Every function of schema replicator pins it too, and none but the capture may be called by PUBLIC.
      const loose = await sql.query(
        `SELECT p.oid::regprocedure::text AS fn FROM pg_proc p WHERE p.pronamespace = 'replicator'::regnamespace
         AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)`,
      );
      assert.deepEqual(loose.rows, []);
    }
    const definers = await servers.primarySql.query('SELECT count(*)::int AS n FROM pg_proc WHERE prosecdef');
    assert.ok(definers.rows[0].n >= 3, 'the capture functions are SECURITY DEFINER');
  });

  it('a writer cannot run code as the capture owner through a temporary table named like the log', async () => {
    service = await startInProcess(servers);
    await as(WRITER, 'primary', async (c) => {
      await c.query(`CREATE TEMP TABLE user_changes (LIKE public.users);
        CREATE FUNCTION pg_temp.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN ALTER ROLE ${WRITER} SUPERUSER; INSERT INTO bystander.traps (what) VALUES ('temp table trigger ran'); RETURN NULL; END $$;
        CREATE TRIGGER escalate AFTER INSERT ON pg_temp.user_changes FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.escalate();
        CREATE TEMP TABLE wakeup (x int);`);
      await c.query("INSERT INTO users (name, email) VALUES ('Mallory', 'mallory@example.com')");
    });
    const role = await servers.primarySql.query('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [WRITER]);
    assert.equal(role.rows[0].rolsuper, false);
    assert.deepEqual(await trapsFired(), []);
    // And the change was captured and replicated all the same.
    await waitFor('Mallory replicated', async () =>
      (await tableText(servers.replicaSql, 'users')).some((r) => r.includes('Mallory')),
    );
  });

  it('functions planted in public never run in the read or the apply, with or without a pinned session', async () => {
    const plant = async (c: pg.Client) =>
      c.query(`
        CREATE FUNCTION public.unnest(public.users[]) RETURNS SETOF public.users LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO bystander.traps (what) VALUES ('unnest(users[])'); RETURN QUERY SELECT (x).* FROM pg_catalog.unnest($1) x; END $$;
        CREATE FUNCTION public.array_agg(text) RETURNS text LANGUAGE sql AS $$ SELECT 'trap' $$;
        CREATE FUNCTION public.pg_visible_in_snapshot(xid8, pg_snapshot) RETURNS boolean LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO bystander.traps (what) VALUES ('pg_visible_in_snapshot'); RETURN true; END $$;
        CREATE FUNCTION public.octet_length(text) RETURNS int LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO bystander.traps (what) VALUES ('octet_length'); RETURN 0; END $$;
        CREATE FUNCTION public.json_populate_record(public.users, json) RETURNS public.users LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO bystander.traps (what) VALUES ('json_populate_record'); RETURN $1; END $$;`);
    await as(BYSTANDER, 'replica', plant);
    await as(BYSTANDER, 'primary', plant);
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Trudy', 'trudy@example.com')");
    await waitFor('Trudy replicated', async () =>
      (await tableText(servers.replicaSql, 'users')).some((r) => r.includes('Trudy')),
    );
    // A session that does not pin its search_path: USE_LISTEN=false (transaction-mode pooler).
    await service?.stop();
    service = await startInProcess(servers, {
      USE_LISTEN: 'false',
      POLL_INTERVAL: '50ms',
      LOG_LEVEL: process.env.DBG ?? 'silent',
    });
    await servers.primarySql.query("UPDATE users SET name = 'Trudy 2' WHERE name = 'Trudy'");
    await waitFor('Trudy 2 replicated', async () =>
      (await tableText(servers.replicaSql, 'users')).some((r) => r.includes('Trudy 2')),
    );
    const verify = await runCli(['verify', 'users'], env);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
    assert.deepEqual(await trapsFired(), []);
  });

  it('tables keyed by extension types: the application keeps writing, and they replicate', async () => {
    for (const sql of [servers.primarySql, servers.replicaSql]) {
      await sql.query(`CREATE EXTENSION ltree; CREATE EXTENSION citext;
        CREATE TABLE paths (path ltree PRIMARY KEY, label text);
        CREATE TABLE handles (handle citext PRIMARY KEY, n int)`);
    }
    const added = await runCli(['add', 'paths', 'handles', '--no-wait'], env);
    assert.equal(added.code, 0, added.stderr);
    await servers.primarySql.query(`INSERT INTO paths VALUES ('a.b', 'x'), ('a.c', 'y');
      UPDATE paths SET label = 'z' WHERE path = 'a.b';
      UPDATE paths SET path = 'a.d' WHERE path = 'a.c';
      INSERT INTO handles VALUES ('Alice', 1), ('bob', 2);
      UPDATE handles SET handle = 'ALICE' WHERE handle = 'alice';
      DELETE FROM handles WHERE handle = 'BOB'`);
    await waitFor('extension-keyed tables replicated', async () => {
      for (const t of ['paths', 'handles']) {
        if (JSON.stringify(await tableText(servers.replicaSql, t)) !== JSON.stringify(await tableText(servers.primarySql, t))) {
          return false;
        }
      }
      return true;
    });
    assert.deepEqual(await tableText(servers.replicaSql, 'handles'), ['(ALICE,1)']);
  });

  it('two-phase commit works whether the replicator waits or works', async () => {
    const replicatorWaits = async () => (await service?.status.snapshot())?.backlog === 0;
    await waitFor('the replicator idle', replicatorWaits);
    await as(WRITER, 'primary', async (c) => {
      await c.query("BEGIN; INSERT INTO users (name, email) VALUES ('Twophase', '2pc@example.com'); PREPARE TRANSACTION 'p1'");
    });
    await servers.primarySql.query("COMMIT PREPARED 'p1'");
    await waitFor('the prepared transaction replicated', async () =>
      (await tableText(servers.replicaSql, 'users')).some((r) => r.includes('Twophase')),
    );
  });

  it('a stolen replicator login can only read the replicated tables and their change logs; grants reach named logins only', async () => {
    await servers.primarySql.query(`CREATE TABLE secrets (id int PRIMARY KEY, s text); INSERT INTO secrets VALUES (1, 'x');
      CREATE ROLE schema_user LOGIN PASSWORD '${TEST_PASSWORD}';
      GRANT USAGE ON SCHEMA replicator TO schema_user;`);
    const log = (
      await servers.primarySql.query<{ log: string }>(
        "SELECT format('%I.%I', log_schema, log_name) AS log FROM replicator.tables WHERE table_name = 'users'",
      )
    ).rows[0]?.log as string;
    const denied = async (sql: string) => {
      const error = await as(REPLICATOR_ROLE, 'primary', (c) => c.query(sql)).then(
        () => undefined,
        (e: { code?: string }) => e,
      );
      assert.equal(error?.code, '42501', `refused: ${sql}`);
    };
    // What it may do: read a replicated table and its change log (and prune the log: README's threat model).
    await as(REPLICATOR_ROLE, 'primary', async (c) => {
      await c.query('SELECT count(*) FROM public.users');
      await c.query(`SELECT count(*) FROM ${log}`);
    });
    // What it may not: write them, read anything else, change the replication set or the capture, grant itself more.
    for (const sql of [
      "INSERT INTO public.users (name, email) VALUES ('x', 'x@example.com')",
      'UPDATE public.users SET name = name',
      'DELETE FROM public.users',
      'TRUNCATE public.users',
      'SELECT * FROM public.secrets',
      'UPDATE replicator.tables SET removed_at = now()',
      "SELECT replicator.add_table('public.secrets'::regclass, NULL, NULL, NULL, NULL, false)",
      "SELECT replicator.remove_table('public', 'users', false)",
      "SELECT replicator.resync_table('public', 'users')",
      'SELECT replicator.grant_table(t, current_user) FROM replicator.tables t',
      'SELECT replicator.grant_replicator(current_user)',
      'SELECT replicator.uninstall()',
      'CREATE TABLE replicator.mine (x int)',
      'ALTER TABLE public.users DISABLE TRIGGER ALL',
    ])
      await denied(sql);
    // Grants name the login: a role with USAGE on schema replicator gets nothing, nor does PUBLIC.
    for (const [role, object, privilege] of [
      ['schema_user', 'public.users', 'SELECT'],
      ['schema_user', log, 'SELECT'],
      ['public', 'public.users', 'SELECT'],
      ['public', log, 'SELECT'],
    ] as const) {
      const { rows } = await servers.primarySql.query<{ ok: boolean }>('SELECT has_table_privilege($1, $2, $3) AS ok', [
        role,
        object,
        privilege,
      ]);
      assert.equal(rows[0]?.ok, false, `${role} has no ${privilege} on ${object}`);
    }
  });
});

/**
 * The randomized test: writers run random transactions (families in
 * families.ts: inserts, updates, key changes, deletes, truncates, awkward
 * types and keys, JSON, arrays, a partitioned table written through its root
 * and its partitions, …) while a DBA changes the schema (schedule.ts) and the
 * real `replicator run` is killed with SIGKILL and restarted at random points.
 * At the end every table's `row::text` must be the same on both servers; a
 * failure lists, per table, the first rows only one side has.
 *
 * RANDOM_SEED=<n> replays the operations and the schedule (the interleaving
 * of concurrent writers follows the machine's timing); RANDOM_DURATION=<s>
 * writes longer (default 60); RANDOM_FEATURES=all,-partitions,… chooses the
 * families (names in families.ts; "-name" leaves one out).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type RunningReplicator, runCli, startReplicator } from '../support/cli.js';
import { REPLICATOR_ROLE, startTestServers, type TestServers, waitFor } from '../support/servers.js';
import { compareTable, describeDifference, pinPrintSettings, type TableDifference } from './compare.js';
import { FAMILIES, type OpContext, type Query, Shared, selectFamilies, sessionSettings } from './families.js';
import { Rng } from './prng.js';
import { ddlEvent, partitionEvent, resyncEvent, type ScheduleContext } from './schedule.js';

const SEED = Number(process.env.RANDOM_SEED ?? Date.now() % 1_000_000);
const DURATION_MS = Number(process.env.RANDOM_DURATION ?? 60) * 1000;
const ENABLED = selectFamilies(process.env.RANDOM_FEATURES);
const FEATURES = [...ENABLED].join(',');
const WRITERS = 3;

const families = FAMILIES.filter((f) => ENABLED.has(f.name));
const TABLES = [...families.flatMap((f) => f.tables), 't_heartbeat', 'users'];
const familyOf = (table: string) => FAMILIES.find((f) => f.tables.includes(table))?.name ?? 'base';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface FamilyFigures {
  ok: number;
  failed: number;
  lastError?: string;
}

describe(`randomized replication (RANDOM_SEED=${SEED} RANDOM_DURATION=${DURATION_MS / 1000} RANDOM_FEATURES=${FEATURES})`, () => {
  let servers: TestServers;
  let replicator: RunningReplicator | undefined;
  let env: Record<string, string>;
  let ownerEnv: Record<string, string>;
  const shared = new Shared();
  const figures = {
    committed: 0,
    rolledBack: 0,
    failed: new Map<string, number>(),
    kills: 0,
    events: [] as string[],
    byFamily: new Map<string, FamilyFigures>(families.map((f) => [f.name, { ok: 0, failed: 0 }])),
  };

  before(async () => {
    process.stdout.write(
      `randomized replication: RANDOM_SEED=${SEED} RANDOM_DURATION=${DURATION_MS / 1000} RANDOM_FEATURES=${FEATURES}\n`,
    );
    servers = await startTestServers();
    ownerEnv = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    const heartbeat = 'CREATE TABLE t_heartbeat (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());';
    for (const f of families) if (f.primary) await servers.primarySql.query(f.primary);
    await servers.primarySql.query(heartbeat);
    if (ENABLED.has('copy')) for (const f of families) if (f.seed) await servers.primarySql.query(f.seed);
    for (const f of families) if (f.replica) await servers.replicaSql.query(f.replica);
    const added = await runCli(['add', ...TABLES.filter((t) => t !== 'users')], ownerEnv);
    assert.equal(added.code, 0, added.stdout + added.stderr);
    // The replicator's login may write every replica table; with AUTO_ADD_COLUMNS it owns them (README: it needs the owner).
    if (process.env.RANDOM_AUDIT) {
      // Diagnosis only: every row the apply writes or deletes on the replica, and by which statement.
      await servers.replicaSql.query(`CREATE TABLE public.replica_audit (at timestamptz DEFAULT clock_timestamp(), tbl text, op text, row_text text, xid text, query text);
        GRANT INSERT ON public.replica_audit TO ${REPLICATOR_ROLE};
        CREATE FUNCTION public.replica_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO public.replica_audit (tbl, op, row_text, xid, query)
          VALUES (TG_TABLE_NAME, TG_OP, CASE WHEN TG_OP = 'DELETE' THEN OLD::text WHEN TG_OP <> 'TRUNCATE' THEN NEW::text END, pg_catalog.txid_current()::text, left(current_query(), 400));
          RETURN NULL;
        END $$;`);
      for (const table of TABLES) {
        await servers.replicaSql.query(`CREATE TRIGGER replica_audit AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION public.replica_audit();
          ALTER TABLE ${table} ENABLE ALWAYS TRIGGER replica_audit;
          CREATE TRIGGER replica_audit_t AFTER TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION public.replica_audit();
          ALTER TABLE ${table} ENABLE ALWAYS TRIGGER replica_audit_t;`);
      }
    }
    for (const table of TABLES) {
      await servers.replicaSql.query(`GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ${table} TO ${REPLICATOR_ROLE}`);
      if (ENABLED.has('auto-add-columns')) await servers.replicaSql.query(`ALTER TABLE ${table} OWNER TO ${REPLICATOR_ROLE}`);
    }
    env = {
      PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicator.replicaUrl,
      POLL_INTERVAL: '200ms',
      LOG_LEVEL: 'warn',
      ...(ENABLED.has('auto-add-columns') ? { AUTO_ADD_COLUMNS: 'true' } : {}),
    };
  });
  after(async () => {
    await replicator?.stop();
    await servers?.stop();
  });

  it('ends with every table identical on both servers, row for row', async () => {
    const writerPool = new pg.Pool({ connectionString: servers.primaryUrl, max: WRITERS + 1 });
    writerPool.on('error', () => {});
    writerPool.on('connect', (client) => {
      client.on('error', () => {});
      // A writer never waits long behind a DBA's DDL: its transaction fails and the next one starts.
      void client.query("SET lock_timeout = '2s'").catch(() => {});
    });
    let writing = true;
    const opsByWeight = families.flatMap((f) =>
      (f.ops ?? []).map(([w, op]) => [w * (f.weight ?? 1), { family: f.name, op }] as const),
    );

    const writer = async (n: number) => {
      const rng = new Rng(SEED, `writer ${n}`);
      while (writing) {
        const client = await writerPool.connect();
        const q: Query = async (text, values) => (await client.query(text, values)).rows;
        const ctx: OpContext = { rng, shared, q, enabled: ENABLED };
        let broken = false;
        try {
          await client.query('BEGIN');
          if (ENABLED.has('sessions') && rng.chance(0.5)) {
            const settings = sessionSettings(rng);
            if (settings) await client.query(settings);
          }
          for (let i = rng.int(1, 5); i > 0; i--) {
            const { family, op } = rng.weighted(opsByWeight);
            const stats = figures.byFamily.get(family) as FamilyFigures;
            const savepoint = ENABLED.has('savepoints') && rng.chance(0.15);
            if (savepoint) await client.query('SAVEPOINT s');
            try {
              await op(ctx);
              stats.ok++;
            } catch (error) {
              stats.failed++;
              stats.lastError = `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`;
              if (!savepoint) throw error;
              await client.query('ROLLBACK TO SAVEPOINT s');
              continue;
            }
            if (savepoint) await client.query(rng.chance(0.5) ? 'ROLLBACK TO SAVEPOINT s' : 'RELEASE SAVEPOINT s');
          }
          if (ENABLED.has('savepoints') && rng.chance(0.05)) {
            await client.query('ROLLBACK');
            figures.rolledBack++;
          } else {
            await client.query('COMMIT');
            figures.committed++;
          }
        } catch (error) {
          const code = (error as { code?: string }).code ?? 'other';
          figures.failed.set(code, (figures.failed.get(code) ?? 0) + 1);
          broken = (await client.query('ROLLBACK').then(
            () => false,
            () => true,
          )) as boolean;
        } finally {
          client.release(broken);
        }
      }
    };

    // long-tx: a transaction held open while the others commit after it.
    const longWriter = async () => {
      const rng = new Rng(SEED, 'long');
      while (writing) {
        const client = await writerPool.connect();
        try {
          await client.query('BEGIN');
          await client.query('INSERT INTO t_long VALUES ($1, 0, $2)', [shared.id('t_long'), 'opened']);
          if (ENABLED.has('basic'))
            await client.query("INSERT INTO t_basic (id, n, s) VALUES ($1, 0, 'long')", [shared.id('t_basic')]);
          await sleep(rng.int(500, 3000)); // held open: the scenario, not a synchronization
          await client.query("UPDATE t_long SET v = v + 1, note = 'closed' WHERE id = (SELECT max(id) FROM t_long)");
          await client.query('COMMIT');
          figures.committed++;
        } catch {
          await client.query('ROLLBACK').catch(() => {});
        } finally {
          client.release();
        }
      }
    };

    const schedule: ScheduleContext = {
      rng: new Rng(SEED, 'schedule'),
      shared,
      enabled: ENABLED,
      primary: servers.primarySql,
      replica: servers.replicaSql,
      pause: sleep,
      resync: async (table) => {
        const result = await runCli(['resync', table, '--no-wait'], ownerEnv);
        assert.equal(result.code, 0, result.stderr);
      },
      events: figures.events,
    };
    const rng = schedule.rng;
    // Families without operations of their own (long-tx, sessions, savepoints, copy alone) start no writers.
    const writers = opsByWeight.length > 0 ? WRITERS : 0;
    const running = [...Array.from({ length: writers }, (_, n) => writer(n)), ...(ENABLED.has('long-tx') ? [longWriter()] : [])];

    const unexpectedExit = () => {
      const output = replicator?.output() ?? '';
      return `the replicator exited on its own; its last output:\n${output.slice(-3000)}`;
    };
    let exitedOnItsOwn = false;
    const watchExit = (r: RunningReplicator) =>
      void r.exited.then(({ signal }) => {
        if (signal !== 'SIGKILL' && signal !== 'SIGTERM' && r === replicator) exitedOnItsOwn = true;
      });

    try {
      replicator = await startReplicator(env);
      watchExit(replicator);
      const end = Date.now() + DURATION_MS;
      while (Date.now() < end) {
        await sleep(rng.int(500, 5000)); // a random point in the run
        assert.ok(!exitedOnItsOwn, unexpectedExit());
        const event = rng.weighted([
          [5, 'kill'],
          [ENABLED.has('ddl') ? 3 : 0, 'ddl'],
          [ENABLED.has('partitions') ? 1.5 : 0, 'partition'],
          [ENABLED.has('copy') ? 0.5 : 0, 'resync'],
        ] as const);
        if (event === 'kill') {
          replicator.child.kill('SIGKILL');
          await replicator.exited;
          figures.kills++;
          await sleep(rng.int(0, 1500));
          replicator = await startReplicator(env);
          watchExit(replicator);
        } else if (event === 'ddl') {
          await ddlEvent(schedule);
        } else if (event === 'partition') {
          await partitionEvent(schedule);
        } else {
          await resyncEvent(
            schedule,
            families.flatMap((f) => f.tables),
          );
        }
      }
    } finally {
      writing = false;
      await Promise.all(running);
      await writerPool.end();
    }
    assert.ok(!exitedOnItsOwn, unexpectedExit());

    // The generators themselves must work: every family's operations succeeded at least once.
    for (const [family, stats] of figures.byFamily) {
      const f = FAMILIES.find((x) => x.name === family);
      if (f?.ops?.length) assert.ok(stats.ok > 0, `family ${family}: no operation succeeded (last error: ${stats.lastError})`);
    }
    assert.ok(figures.committed >= 10, `only ${figures.committed} transactions committed`);

    // Converged: a row written after everything else has reached the replica.
    await servers.primarySql.query('INSERT INTO t_heartbeat (id) VALUES (1)');
    const convergedAt = Date.now();
    // …and every initial copy (or resync) requested is done on the replica.
    const copiesDone = async () => {
      const { rows: requested } = await servers.primarySql.query<{ t: string; at: string }>(
        `SELECT format('%I.%I', table_schema, table_name) AS t, extract(epoch FROM copy_requested_at)::text AS at
         FROM replicator.tables WHERE copy_requested_at IS NOT NULL`,
      );
      const { rows: done } = await servers.replicaSql.query<{ t: string; at: string }>(
        `SELECT format('%I.%I', table_schema, table_name) AS t, extract(epoch FROM requested_at)::text AS at
         FROM replicator.copy_progress WHERE done`,
      );
      return requested.every((r) => done.some((d) => d.t === r.t && d.at === r.at));
    };
    // A documented pause that names its fix (a column renamed, or dropped and another added, while the
    // replicator was down: `replicator resync <table>`) is followed, as a DBA would, once per table.
    const followed = new Set<string>();
    const followAdvice = async () => {
      const { state, last_error } = ((await replicator?.status().catch(() => ({}))) ?? {}) as {
        state?: string;
        last_error?: string;
      };
      const table = /^primary: changes of (\S+) in the WAL .* run `replicator resync \1`/.exec(last_error ?? '')?.[1];
      if (state !== 'failing' || !table || followed.has(table)) return;
      followed.add(table);
      figures.events.push(`replicator resync ${table} (as the replicator asked: ${last_error})`);
      await schedule.resync(table);
    };
    const arrived = await waitFor(
      'the final heartbeat on the replica, and every copy done',
      async () => {
        await followAdvice();
        return (await servers.replicaSql.query('SELECT 1 FROM t_heartbeat WHERE id = 1')).rowCount === 1 && (await copiesDone());
      },
      60_000,
    ).then(
      () => true,
      () => false,
    );
    const status = (await replicator.status().catch(() => ({}))) as {
      state?: string;
      last_error?: string | null;
      verify?: { tables: Array<{ table: string; divergent_rows: number }> };
    };

    await pinPrintSettings(servers.primarySql);
    await pinPrintSettings(servers.replicaSql);
    const differences: TableDifference[] = [];
    for (const table of TABLES) {
      const d = await compareTable(servers.primarySql, servers.replicaSql, table);
      if (d) differences.push(d);
    }

    const perFamily = [...figures.byFamily].map(([name, s]) => `${name} ${s.ok}/${s.ok + s.failed}`).join(', ');
    const failedCodes = [...figures.failed].map(([code, n]) => `${code}×${n}`).join(' ');
    const divergent = (status.verify?.tables ?? []).filter((t) => t.divergent_rows > 0);
    process.stdout.write(
      `randomized replication (RANDOM_SEED=${SEED} RANDOM_DURATION=${DURATION_MS / 1000} RANDOM_FEATURES=${FEATURES}): ` +
        `${figures.committed} transactions committed, ${figures.rolledBack} rolled back, failed: ${failedCodes || 'none'}; ` +
        `${figures.kills} SIGKILLs, ${figures.events.length} DBA events; ` +
        `${arrived ? `converged in ${Date.now() - convergedAt} ms` : `did NOT converge (state ${status.state}, last error: ${status.last_error})`}; ` +
        `${TABLES.length - differences.length}/${TABLES.length} tables identical; continuous verify (starts over after each kill) had reported: ${divergent.map((t) => `${t.table} ${t.divergent_rows}`).join(', ') || 'nothing'}\n` +
        `  operations that succeeded per family: ${perFamily}\n` +
        (figures.events.length ? `  events: ${figures.events.join(' | ')}\n` : ''),
    );
    if (differences.length > 0 || !arrived) {
      assert.fail(
        [
          `RANDOM_SEED=${SEED} RANDOM_FEATURES=${FEATURES}: the replica differs from the primary in ${differences.length} table(s)` +
            (arrived ? '' : `; the replicator did not converge (state ${status.state}, last error: ${status.last_error})`),
          ...differences.map((d) => describeDifference(d, familyOf(d.table))),
          ...(await captureHistory(servers, differences)),
        ].join('\n'),
      );
    }
  });
});

/**
 * For a failure report: what the change log says about the first keys only
 * on one side (tables keyed by their first column), and where the replica's
 * position stands, so a divergence can be traced to the batch that lost it.
 */
async function captureHistory(servers: TestServers, differences: readonly TableDifference[]): Promise<string[]> {
  const lines: string[] = [];
  const position = await servers.replicaSql
    .query("SELECT snapshot, previous_snapshot, lsn::text, applied_at::text FROM replicator.position WHERE name = 'default'")
    .catch(() => ({ rows: [] }));
  lines.push(`replica position: ${JSON.stringify(position.rows[0] ?? null)}`);
  for (const d of differences) {
    const keys = [...d.onlyOnPrimary, ...d.onlyOnReplica].map((row) => row.replace(/^\(/, '').split(',')[0]).slice(0, 3);
    const entry = await servers.primarySql
      .query('SELECT log_schema, log_name, log_key_columns[1] AS k FROM replicator.tables WHERE table_name = $1', [d.table])
      .catch(() => ({ rows: [] as Array<{ log_schema: string; log_name: string; k: string }> }));
    const log = entry.rows[0];
    if (!log || keys.length === 0) continue;
    const { rows } = await servers.primarySql
      .query(
        `SELECT change_id, operation, ${JSON.stringify(log.k)}::text AS key, txid::text, change_timestamp::text
         FROM ${JSON.stringify(log.log_schema)}.${JSON.stringify(log.log_name)}
         WHERE ${JSON.stringify(log.k)}::text = ANY ($1) ORDER BY change_id`,
        [keys],
      )
      .catch((e: Error) => ({ rows: [{ error: e.message }] }));
    lines.push(`${d.table}: change log of keys ${keys.join(', ')}: ${JSON.stringify(rows)}`);
    const audit = await servers.replicaSql
      .query(
        `SELECT at::text, op, row_text, xid, query FROM public.replica_audit
          WHERE tbl = $1 AND (row_text IS NULL OR pg_catalog.split_part(pg_catalog.ltrim(row_text, '('), ',', 1) = ANY ($2))
          ORDER BY at DESC LIMIT 12`,
        [d.table, keys],
      )
      .catch(() => ({ rows: [] }));
    if (audit.rows.length > 0) lines.push(`${d.table}: last writes of those keys on the replica: ${JSON.stringify(audit.rows)}`);
  }
  return lines;
}

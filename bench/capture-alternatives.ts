/**
 * `npm run bench:capture`: what each way of writing the change log costs the
 * application's writes on the primary (issue 14.1), so the design kept is the
 * cheapest that keeps every guarantee. One primary configured as in
 * production (the bench's servers: fsync and synchronous_commit on), a fresh
 * database per run with bench.items, then the same writes as the bench's
 * capture-cost workload (one 200,000-row INSERT; 20,000 single-row inserts
 * from 8 connections) with nothing installed and with each alternative's
 * trigger and log. Runs alternate alternative by alternative and the median
 * of each is kept.
 *
 * The alternatives are hand-written models of each design, shaped like the
 * capture `replicator add` installs (db/migrations/002_capture.primary.sql)
 * without its wakeup check; the installed capture itself is measured by
 * `npm run bench` (capture-cost rows). Nothing here replicates.
 *
 * Invariant: every alternative is installed on a fresh database and timed with
 * the same statements; the report names each design and whether it keeps the
 * replicator's guarantees, so a cheaper figure is never read as a free one.
 *
 *   npm run bench:capture [-- --repeats N]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { median, now, round } from './measure.js';
import { describeEnvironment } from './results.js';
import { createItems } from './schema.js';
import { type BenchServers, freshDatabases, startBenchServers, WRITER_CONNECTIONS } from './servers.js';
import { settle } from './workload.js';
import { insertOne, insertRange } from './workloads/statements.js';
import { runClosedLoop } from './writers.js';

interface Alternative {
  name: string;
  /** Why it is or is not kept. */
  verdict: string;
  /** SQL run on the primary's fresh database after bench.items exists; none: no capture. */
  install: string | null;
}

const LOG_KEYS_ONLY = (options: { unlogged?: boolean; index?: 'txid' | 'none' | 'change_id+txid' } = {}) => `
  CREATE ${options.unlogged ? 'UNLOGGED ' : ''}TABLE bench.items_log (
    change_id bigint GENERATED ALWAYS AS IDENTITY (CACHE 100)${options.index === 'change_id+txid' ? ' PRIMARY KEY' : ''},
    operation text NOT NULL,
    id bigint,
    relid oid,
    txid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    change_timestamp timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
  );
  ${options.index === 'none' ? '' : 'CREATE INDEX ON bench.items_log (txid);'}`;

const STATEMENT_TRIGGERS = (body: { insert: string; update: string; del: string }) => `
  CREATE FUNCTION bench.capture() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $f$
  BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN ${body.insert}
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN ${body.update}
    ELSE ${body.del}
    END IF;
    RETURN NULL;
  END $f$;
  CREATE TRIGGER capture AFTER INSERT ON bench.items REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench.capture();
  CREATE TRIGGER capture_update AFTER UPDATE ON bench.items REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench.capture();
  CREATE TRIGGER capture_delete AFTER DELETE ON bench.items REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bench.capture();`;

const KEYS_STATEMENT = STATEMENT_TRIGGERS({
  insert: `INSERT INTO bench.items_log (operation, id) SELECT 'INSERT', n.id FROM new_rows n;`,
  update: `INSERT INTO bench.items_log (operation, id) SELECT 'UPDATE', n.id FROM new_rows n;`,
  del: `INSERT INTO bench.items_log (operation, id) SELECT 'DELETE', o.id FROM old_rows o;`,
});

const ALTERNATIVES: Alternative[] = [
  { name: 'no capture', verdict: 'baseline', install: null },
  {
    name: 'keys only, statement-level, index on txid (installed design)',
    verdict: 'kept: row images are read from the table in the batch snapshot',
    install: LOG_KEYS_ONLY() + KEYS_STATEMENT,
  },
  {
    name: 'row image as JSON + key, statement-level, indexes on change_id and txid (first design)',
    verdict: 'dropped: writes every row twice',
    install: `
      CREATE TABLE bench.items_log (
        change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        operation text NOT NULL, id bigint, row_data json,
        txid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
        change_timestamp timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp());
      CREATE INDEX ON bench.items_log (txid);
      ${STATEMENT_TRIGGERS({
        insert: `INSERT INTO bench.items_log (operation, id, row_data) SELECT 'INSERT', n.id, pg_catalog.to_json(n) FROM new_rows n;`,
        update: `INSERT INTO bench.items_log (operation, id, row_data) SELECT 'UPDATE', n.id, pg_catalog.to_json(n) FROM new_rows n;`,
        del: `INSERT INTO bench.items_log (operation, id) SELECT 'DELETE', o.id FROM old_rows o;`,
      })}`,
  },
  {
    name: 'keys only, row-level trigger',
    verdict:
      'dropped: one trigger call and one insert per row (used only for partitioned roots, where transition tables are not allowed)',
    install: `${LOG_KEYS_ONLY()}
      CREATE FUNCTION bench.capture_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
      SET search_path = pg_catalog, pg_temp AS $f$
      BEGIN
        IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
          INSERT INTO bench.items_log (operation, id) VALUES ('DELETE', OLD.id);
        ELSE
          INSERT INTO bench.items_log (operation, id) VALUES (TG_OP, NEW.id);
        END IF;
        RETURN NULL;
      END $f$;
      CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON bench.items FOR EACH ROW EXECUTE FUNCTION bench.capture_row();`,
  },
  {
    name: 'keys only, statement-level, change_id primary key + txid index',
    verdict: 'dropped: a second index nothing reads',
    install: LOG_KEYS_ONLY({ index: 'change_id+txid' }) + KEYS_STATEMENT,
  },
  {
    name: 'keys only, statement-level, no index',
    verdict: 'not safe to keep: every batch would scan the whole log',
    install: LOG_KEYS_ONLY({ index: 'none' }) + KEYS_STATEMENT,
  },
  {
    name: 'keys only, statement-level, UNLOGGED log',
    verdict: 'not safe: a crash of the primary empties the log, changes lost silently',
    install: LOG_KEYS_ONLY({ unlogged: true }) + KEYS_STATEMENT,
  },
];

interface Figures {
  name: string;
  verdict: string;
  bulkMs: number[];
  singleMs: number[];
}

async function timeRun(servers: BenchServers, alternative: Alternative, kind: 'bulk' | 'single', rows: number): Promise<number> {
  const db = await freshDatabases(servers, `capalt_${kind}`);
  try {
    await createItems(db.primary, db.replica);
    if (alternative.install) await db.primary.query(alternative.install);
    await settle(db, 60_000);
    if (kind === 'bulk') {
      const start = now();
      await db.primary.query(insertRange(1, rows));
      return round(now() - start);
    }
    const run = await runClosedLoop(db.writers, WRITER_CONNECTIONS, rows, insertOne);
    return round(run.lastEnd - run.firstStart);
  } finally {
    await db.drop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { repeats: { type: 'string', default: '3' } } });
  const repeats = Number(values.repeats);
  const bulkRows = 200_000;
  const singleRows = 20_000;
  const servers = await startBenchServers();
  const figures: Figures[] = ALTERNATIVES.map((a) => ({ name: a.name, verdict: a.verdict, bulkMs: [], singleMs: [] }));
  const environment = describeEnvironment(`${servers.postgresVersion} (fsync and synchronous_commit on)`);
  try {
    for (let r = 0; r < repeats; r++) {
      for (const [i, alternative] of ALTERNATIVES.entries()) {
        const f = figures[i] as Figures;
        f.bulkMs.push(await timeRun(servers, alternative, 'bulk', bulkRows));
        f.singleMs.push(await timeRun(servers, alternative, 'single', singleRows));
        process.stderr.write(
          `[${r + 1}/${repeats}] ${alternative.name}: bulk ${f.bulkMs.at(-1)} ms, single ${f.singleMs.at(-1)} ms\n`,
        );
      }
    }
  } finally {
    await servers.stop();
  }
  const base = figures[0] as Figures;
  const baseBulk = median(base.bulkMs);
  const baseSingle = median(base.singleMs);
  const lines = [
    `| design | bulk ${bulkRows.toLocaleString('en')} rows (median ms) | ratio | ${singleRows.toLocaleString('en')} single-row inserts, ${WRITER_CONNECTIONS} conns (median ms) | ratio | kept? |`,
    '|---|---:|---:|---:|---:|---|',
    ...figures.map((f) => {
      const b = median(f.bulkMs);
      const s = median(f.singleMs);
      return `| ${f.name} | ${b.toLocaleString('en')} | ${(b / baseBulk).toFixed(2)}x | ${s.toLocaleString('en')} | ${(s / baseSingle).toFixed(2)}x | ${f.verdict} |`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const file = `bench/results/capture-alternatives-${new Date().toISOString().slice(0, 10)}.json`;
  writeFileSync(file, `${JSON.stringify({ environment, bulkRows, singleRows, repeats, figures }, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:capture: ${(error as Error).message}\n`);
  process.exitCode = 1;
});

/**
 * How long `replicator verify` takes on a 1,000,000-row table: two fresh
 * embedded servers, the same rows written on both (on the primary with the
 * capture triggers off, as if already replicated), then verify of identical
 * tables, verify with a few rows changed on the replica, and --repair.
 *
 *   node --import tsx bench/verify-bench.ts [--rows 1000000] [--jobs 4]
 *
 * Prints the figures; writes nothing.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Database } from '../src/db/database.js';
import { type EmbeddedServer, startEmbeddedServer } from '../src/embedded/embedded-server.js';
import { installDemo } from '../src/embedded/install-demo.js';
import { Side } from '../src/verify/sides.js';
import { type VerifyReport, verify } from '../src/verify/verify.js';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, jobs: { type: 'string', default: '4' } },
});
const ROWS = Number(values.rows);
const JOBS = Number(values.jobs);
const PASSWORD = 'bench-Pa55:word';

const TABLE = `
  CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(14, 2) NOT NULL,
    opened timestamptz NOT NULL, tags text[], settings jsonb);`;
const ROWS_SQL = `
  INSERT INTO accounts
  SELECT g, 'owner ' || g, (g::bigint * 7919 % 1000000) / 100.0, timestamptz '2024-01-01' + g * interval '17 seconds',
         ARRAY['t' || g % 10, 't' || g % 7], jsonb_build_object('plan', g % 3, 'limit', g % 1000)
  FROM generate_series(1, $1::int) g`;

function summary(label: string, report: VerifyReport): string {
  const t = report.tables.find((x) => x.table === 'accounts');
  if (!t) throw new Error('accounts not verified');
  const found = `${t.missing.length} missing, ${t.extra.length} extra, ${t.different.length} different`;
  const repaired = t.repair
    ? `; repaired ${t.repair.inserted.length} inserted, ${t.repair.updated.length} updated, ${t.repair.deleted.length} deleted`
    : '';
  return `${label.padEnd(34)} ${(t.elapsedMs / 1000).toFixed(2).padStart(6)} s  ${t.rows.primary.toLocaleString('en-US')} rows, ${t.ranges} ranges, ${t.leaves} leaves, ${found}${repaired}`;
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pg-replicator-verify-bench-'));
  chmodSync(root, 0o755);
  const servers: EmbeddedServer[] = [];
  const clients: pg.Client[] = [];
  const pools: Database[] = [];
  try {
    const started = await Promise.all(
      ['primary', 'replica'].map((name) => startEmbeddedServer({ dataDir: path.join(root, name), password: PASSWORD })),
    );
    servers.push(...started);
    const [primaryServer, replicaServer] = started as [EmbeddedServer, EmbeddedServer];
    const primary = new pg.Client(primaryServer.url());
    const replica = new pg.Client(replicaServer.url());
    clients.push(primary, replica);
    await Promise.all([primary.connect(), replica.connect()]);
    await installDemo(primary, 'primary');
    await installDemo(replica, 'replica');
    await primary.query(TABLE);
    await primary.query("SELECT replicator.add_table('accounts')");
    await replica.query(TABLE);
    const fill = Date.now();
    await Promise.all(
      [primary, replica].map(async (c) => {
        // On the primary the capture must not log a million changes: these rows are "already replicated".
        await c.query('SET session_replication_role = replica');
        await c.query(ROWS_SQL, [ROWS]);
        await c.query('RESET session_replication_role');
        await c.query('VACUUM ANALYZE accounts');
      }),
    );
    const { rows } = await primary.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    process.stdout.write(
      `${ROWS.toLocaleString('en-US')} rows written on both servers in ${((Date.now() - fill) / 1000).toFixed(1)} s; PostgreSQL ${rows[0]?.v}, Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), load average ${os.loadavg()[0]?.toFixed(2)}; --jobs ${JOBS}\n`,
    );

    const side = (role: 'primary' | 'replica', url: string) => {
      const db = new Database({ url, role, max: JOBS + 1, purpose: 'verify' });
      pools.push(db);
      return new Side(db);
    };
    const p = side('primary', primaryServer.url());
    const r = side('replica', replicaServer.url());
    const run = (repair = false) => verify(p, r, { tables: ['accounts'], waitMs: 30_000, repair, ranges: { jobs: JOBS } });

    process.stdout.write(`${summary('identical', await run())}\n`);
    process.stdout.write(`${summary('identical, again (warm cache)', await run())}\n`);
    await replica.query(`
      DELETE FROM accounts WHERE id IN (17, ${Math.floor(ROWS / 2)}, ${ROWS});
      INSERT INTO accounts VALUES (-1, 'only here', 0, now(), NULL, NULL), (${ROWS + 10}, 'only here', 0, now(), NULL, NULL);
      UPDATE accounts SET balance = balance + 1 WHERE id IN (1, 1000, ${Math.floor(ROWS / 3)}, ${ROWS - 1});
      UPDATE accounts SET settings = '{}' WHERE id = ${Math.floor((ROWS * 2) / 3)};`);
    process.stdout.write(`${summary('10 rows differ', await run())}\n`);
    process.stdout.write(`${summary('10 rows differ, --repair', await run(true))}\n`);
    process.stdout.write(`${summary('after the repair', await run())}\n`);
    process.stdout.write(`load average at the end ${os.loadavg()[0]?.toFixed(2)}\n`);
  } finally {
    await Promise.all(pools.map((db) => db.end()));
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await Promise.all(servers.map((s) => s.stop().catch(() => {})));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();

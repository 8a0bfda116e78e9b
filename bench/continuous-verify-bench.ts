/**
 * How fast continuous verification (VERIFY_SHARE) finds a row changed on the
 * replica behind the replicator's back, on a 1,000,000-row table, and what
 * share of the servers' time it takes: two fresh embedded servers, the same
 * rows written on both (on the primary with the capture triggers off, as if
 * already replicated), the replicator running in this process; then, per
 * trial, one row at a random key changed on the replica and the time until
 * /status reports it, and the fix until it is cleared. CPU share is measured
 * from outside: the CPU time of the verifier's own backends on both servers
 * (found by application_name in pg_stat_activity, read from /proc) over the
 * wall time.
 *
 *   node --import tsx bench/continuous-verify-bench.ts [--rows 1000000] [--share 0.05] [--trials 3] [--seed 1]
 *
 * Prints the figures; writes nothing.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parseConfig } from '../src/config/parse-config.js';
import { type EmbeddedServer, startEmbeddedServer } from '../src/embedded/embedded-server.js';
import { installDemo } from '../src/embedded/install-demo.js';
import { createLogger } from '../src/log.js';
import type { VerifyTableStatus } from '../src/replication/replication-status.js';
import { type Service, startService } from '../src/service.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    share: { type: 'string', default: '0.05' },
    trials: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
  },
});
const ROWS = Number(values.rows);
const SHARE = values.share;
const TRIALS = Number(values.trials);
const PASSWORD = 'bench-Pa55:word';

const TABLE = `
  CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(14, 2) NOT NULL,
    opened timestamptz NOT NULL, tags text[], settings jsonb);`;
const ROWS_SQL = `
  INSERT INTO accounts
  SELECT g, 'owner ' || g, (g::bigint * 7919 % 1000000) / 100.0, timestamptz '2024-01-01' + g * interval '17 seconds',
         ARRAY['t' || g % 10, 't' || g % 7], jsonb_build_object('plan', g % 3, 'limit', g % 1000)
  FROM generate_series(1, $1::int) g`;

let seed = Number(values.seed) >>> 0;
function random(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function until<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pg-replicator-cverify-bench-'));
  chmodSync(root, 0o755);
  const servers: EmbeddedServer[] = [];
  const clients: pg.Client[] = [];
  let service: Service | undefined;
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
    // Added while empty: no initial copy; the rows below are "already replicated".
    await primary.query("SELECT replicator.add_table('accounts')");
    await replica.query(TABLE);
    await Promise.all(
      [primary, replica].map(async (c) => {
        await c.query('SET session_replication_role = replica');
        await c.query(ROWS_SQL, [ROWS]);
        await c.query('RESET session_replication_role');
        await c.query('VACUUM ANALYZE accounts');
      }),
    );
    const { rows } = await primary.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    process.stdout.write(
      `${ROWS.toLocaleString('en-US')} rows on both servers; VERIFY_SHARE=${SHARE}; PostgreSQL ${rows[0]?.v}, Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), load average ${os.loadavg()[0]?.toFixed(2)}\n`,
    );

    const config = parseConfig({ HTTP_PORT: '0', LOG_LEVEL: 'silent', VERIFY_SHARE: SHARE, POLL_INTERVAL: '100ms' });
    const startedAt = performance.now();
    service = await startService(
      config,
      { primaryUrl: primaryServer.url(), replicaUrl: replicaServer.url() },
      createLogger('warn', { pretty: false }),
    );
    const status = service.status;
    const accounts = (): VerifyTableStatus | undefined => status.verify?.tables.find((t) => t.table === 'accounts');

    // CPU of the verifier's backends: sampled every 500 ms, new backends picked up, ended ones keep their last reading.
    const firstSeen = new Map<number, number>();
    const lastSeen = new Map<number, number>();
    const sample = async () => {
      for (const c of [primary, replica]) {
        const r = await c.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'pg-replicator verify (%)'",
        );
        for (const { pid } of r.rows) {
          let used: number;
          try {
            used = cpuSeconds(pid);
          } catch {
            continue; // ended between the two reads
          }
          if (!firstSeen.has(pid)) firstSeen.set(pid, 0); // its whole life is the verifier's
          lastSeen.set(pid, used);
        }
      }
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sample().catch(() => {});
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const cpu = () => [...lastSeen].reduce((sum, [pid, used]) => sum + used - (firstSeen.get(pid) ?? 0), 0);
    const cpuAtStart = 0;

    await until(() => (accounts()?.full_passes ?? 0) >= 1 || undefined, 30 * 60_000, 'the first full pass');
    const passSeconds = (performance.now() - startedAt) / 1000;
    const cpuUsed = cpu() - cpuAtStart;
    process.stdout.write(
      `first full pass of accounts: ${passSeconds.toFixed(1)} s (${accounts()?.last_pass_rows?.toLocaleString('en-US')} rows); ` +
        `verifier's own work ${status.verify?.work_seconds.toFixed(2)} s = ${(((status.verify?.work_seconds ?? 0) / passSeconds) * 100).toFixed(2)}% of the time; ` +
        `CPU of its backends ${cpuUsed.toFixed(2)} s on two servers = ${((cpuUsed / 2 / passSeconds) * 100).toFixed(2)}% of one core per server\n`,
    );

    const found: number[] = [];
    for (let trial = 1; trial <= TRIALS; trial++) {
      const id = 1 + Math.floor(random() * ROWS);
      const key = `{"id" : ${id}}`;
      await replica.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [id]);
      const at = performance.now();
      await until(() => (accounts()?.divergent.some((d) => d.key === key) ? true : undefined), 30 * 60_000, `row ${id} reported`);
      const seconds = (performance.now() - at) / 1000;
      found.push(seconds);
      await replica.query('UPDATE accounts SET balance = balance - 1 WHERE id = $1', [id]);
      const fixedAt = performance.now();
      await until(() => (accounts()?.divergent_rows === 0 ? true : undefined), 30 * 60_000, `row ${id} cleared`);
      process.stdout.write(
        `trial ${trial}: row id=${id} changed on the replica: reported after ${seconds.toFixed(1)} s; fixed by hand, cleared after ${((performance.now() - fixedAt) / 1000).toFixed(1)} s\n`,
      );
    }
    const wall = (performance.now() - startedAt) / 1000;
    sampling = false;
    await sampler;
    const cpuTotal = cpu() - cpuAtStart;
    found.sort((a, b) => a - b);
    process.stdout.write(
      `${firstSeen.size} verifier backends seen; notes: ${JSON.stringify(status.verify?.tables.map((t) => [t.table, t.note]))}\n` +
        `found after ${found.map((s) => `${s.toFixed(0)} s`).join(', ')} (median ${found[Math.floor(found.length / 2)]?.toFixed(0)} s); ` +
        `over the whole run (${wall.toFixed(0)} s): work ${(((status.verify?.work_seconds ?? 0) / wall) * 100).toFixed(2)}%, ` +
        `backends' CPU ${((cpuTotal / 2 / wall) * 100).toFixed(2)}% of one core per server; load average at the end ${os.loadavg()[0]?.toFixed(2)}\n`,
    );
  } finally {
    await service?.stop();
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await Promise.all(servers.map((s) => s.stop().catch(() => {})));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();

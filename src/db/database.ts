/**
 * One handle per database, used by every part of the replicator (the loop,
 * the CLI, verify): its pool, its role (primary or replica), and the one way
 * its failures become ReplicatorErrors that name it, with every password
 * removed. Every session it opens runs with the pinned settings
 * (session-settings.ts): set once per connection, or per transaction behind a
 * transaction-mode pooler, where session state would leak to other clients.
 * The few connections that live outside the pool (LISTEN, the replication
 * stream) are opened here too, the same way.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { redactSecrets } from '../config/redact-url.js';
import { classifyDatabaseError } from './classify-error.js';
import { connectionConfig, type DatabaseRole } from './connect.js';
import { PINNED_SETTINGS, REPLICATION_ROLE, SET_LOCAL, SET_SESSION } from './session-settings.js';

export type { DatabaseRole } from './connect.js';

export interface DatabaseOptions {
  url: string;
  role: DatabaseRole;
  /** Pool size (default 2). */
  max?: number;
  /** Behind a transaction-mode pooler: settings per transaction, never per session. */
  pooler?: boolean;
  /** The replica's apply sessions also set session_replication_role = replica (where allowed). */
  replicationRole?: boolean;
  /** What the connections are for, shown in application_name (`pg-replicator <purpose>`; the service's own by default). */
  purpose?: string;
  /** Told of every connection opened (reconnections counted in metrics). */
  onConnect?: () => void;
  /**
   * Commits of this handle's sessions do not wait for the WAL flush
   * (synchronous_commit = off), as PostgreSQL's own apply worker commits.
   * Only for writes whose loss in a crash of that server is made good by
   * replication itself (the service's apply and acknowledgments); whatever
   * depends on such a commit surviving waits for it (apply/replica-flushed.ts).
   */
  asyncCommit?: boolean;
}

/** Passwords in a connection URL (raw and decoded), to be removed from any text. */
export function passwordsOf(url: string): string[] {
  try {
    const password = new URL(url).password;
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}

const prepared = new WeakSet<pg.PoolClient>();

/** Statement texts kept prepared (Database.prepared), by name; at most MAX_PREPARED of them per process. */
const statementNames = new Map<string, string>();
const MAX_PREPARED = 200;

export class Database {
  readonly role: DatabaseRole;
  readonly url: string;
  readonly pool: pg.Pool;
  readonly pooler: boolean;
  private readonly secrets: string[];
  private readonly setup: string[];

  constructor(options: DatabaseOptions) {
    this.role = options.role;
    this.url = options.url;
    this.pooler = options.pooler === true;
    this.secrets = passwordsOf(options.url);
    this.pool = new pg.Pool({
      ...connectionConfig(
        options.url,
        options.role,
        options.purpose ? { applicationName: `pg-replicator ${options.purpose}` } : {},
      ),
      max: options.max ?? 2,
      idleTimeoutMillis: 30_000,
    });
    // A connection the server (or the network) drops must not crash the
    // process, idle or checked out: the next query on it fails, the caller
    // retries, the pool opens a new one.
    this.pool.on('error', () => {});
    this.pool.on('connect', (client) => {
      client.on('error', () => {});
      options.onConnect?.();
    });
    this.setup = this.pooler
      ? []
      : [
          SET_SESSION,
          ...(options.asyncCommit ? ['SET synchronous_commit = off'] : []),
          ...(options.replicationRole ? [`SET ${REPLICATION_ROLE} = replica`] : []),
        ];
  }

  /** A pooled connection, its session settings pinned the first time it is handed out. */
  private async connect(): Promise<pg.PoolClient> {
    const client = await this.on(this.pool.connect());
    if (!prepared.has(client)) {
      // Separately: a role that may not set session_replication_role still gets the rest.
      for (const sql of this.setup) await client.query(sql).catch(() => {});
      prepared.add(client);
    }
    return client;
  }

  /**
   * A connection of its own, outside the pool, for a session that must stay
   * open (LISTEN) or speaks the replication protocol (`replication`:
   * replication=database, for logical streaming): the pinned settings set one
   * statement at a time (a walsender takes no more), a failure to open it
   * classified. The caller ends it; its errors after opening are the caller's.
   */
  async dedicated(purpose: string, options: { replication?: boolean } = {}): Promise<pg.Client> {
    const client = new pg.Client({
      ...connectionConfig(this.url, this.role, { applicationName: `pg-replicator ${purpose}` }),
      ...(options.replication ? { replication: 'database' } : {}),
    } as pg.ClientConfig);
    client.on('error', () => {});
    try {
      await client.connect();
      for (const [name, value] of PINNED_SETTINGS) {
        await client.query(name === 'search_path' ? `SET ${name} = ${value}` : `SET ${name} = '${value.replace(/'/g, "''")}'`);
      }
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      throw this.classify(error);
    }
  }

  /** The error as a ReplicatorError naming this database, secrets removed. */
  classify(error: unknown): Error {
    const classified = classifyDatabaseError(error, this.role, this.url);
    classified.message = redactSecrets(classified.message, this.secrets);
    return classified;
  }

  /** Wraps work on this database so its failure is classified. */
  on<T>(work: Promise<T>): Promise<T> {
    return work.catch((error) => Promise.reject(this.classify(error)));
  }

  /**
   * One statement, with the pinned settings: on a session that holds them, or
   * behind a transaction-mode pooler in a transaction of its own that sets them.
   */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.pooler) return this.transaction('BEGIN', (client) => client.query<R>(sql, params));
    return this.session((client) => client.query<R>(sql, params));
  }

  /**
   * One statement kept prepared on each session that runs it, named by its
   * text (a statement run often with other values: parsed and planned once
   * per session; PostgreSQL re-plans it after DDL on what it names). Not
   * behind a transaction-mode pooler, where sessions are shared: there it is
   * a plain query().
   */
  prepared<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.pooler) return this.query<R>(sql, params);
    let name = statementNames.get(sql);
    if (name === undefined) {
      name = `pg_replicator_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`;
      // Bounded: statement texts beyond these run unprepared (each session keeps what it prepared).
      if (statementNames.size < MAX_PREPARED) statementNames.set(sql, name);
      else return this.query<R>(sql, params);
    }
    const config = { name, text: sql, values: params };
    return this.session((client) => client.query<R>(config));
  }

  /** A session of its own for `work`; a session that failed is destroyed, not reused. */
  async session<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let failed = false;
    try {
      return await this.on(work(client));
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      client.release(failed);
    }
  }

  /**
   * `work` in one transaction opened with `begin` (e.g. 'BEGIN ISOLATION LEVEL
   * REPEATABLE READ'), the settings pinned for it; committed when work
   * resolves, rolled back when it throws.
   */
  transaction<T>(begin: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.session(async (client) => {
      await client.query(`${begin}; ${SET_LOCAL}`);
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  async end(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}

/** What a catalog read needs: a Database (pinned settings), or a session of one. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

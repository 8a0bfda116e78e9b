/**
 * Verify's connections to one server: every read is a short READ ONLY
 * transaction with the session settings pinned by SET LOCAL
 * (session-settings.ts: search_path and the settings that change how values
 * print), so nothing leaks into (or depends on) a pooled session. Errors come
 * out named after the server they came from (the database handle's).
 */
import type pg from 'pg';
import type { Database, DatabaseRole } from '../db/database.js';
import { lockBeforeSnapshot } from '../db/lock-before-snapshot.js';
import type { QualifiedName } from '../db/quote.js';
import { SET_LOCAL } from '../db/session-settings.js';

export class Side {
  readonly role: DatabaseRole;
  readonly pool: pg.Pool;

  constructor(readonly db: Database) {
    this.role = db.role;
    this.pool = db.pool;
  }

  private classify(error: unknown): Error {
    return this.db.classify(error);
  }

  /**
   * Runs `work` in one READ ONLY transaction; `snapshot`: REPEATABLE READ, so
   * every statement sees one snapshot, taken after the tables it names are
   * locked (lock-before-snapshot.ts: a table rewritten in between would read
   * as empty).
   */
  async read<T>(work: (client: pg.PoolClient) => Promise<T>, snapshot?: { lock: readonly QualifiedName[] }): Promise<T> {
    if (!snapshot) return this.transaction('BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY', work);
    const lock = lockBeforeSnapshot(snapshot.lock);
    return this.transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', work, lock);
  }

  /** Runs `work` in one read-write transaction (repair), settings pinned; `begin` may add SET LOCALs. */
  async write<T>(work: (client: pg.PoolClient) => Promise<T>, setLocal = ''): Promise<T> {
    return this.transaction(`BEGIN${setLocal ? `; ${setLocal}` : ''}`, work);
  }

  /** A connection of its own, no transaction opened (for helpers that manage theirs). */
  async session<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((e) => Promise.reject(this.classify(e)));
    let failed = false;
    try {
      return await work(client);
    } catch (error) {
      failed = true;
      throw this.classify(error);
    } finally {
      client.release(failed);
    }
  }

  private async transaction<T>(begin: string, work: (client: pg.PoolClient) => Promise<T>, lock = ''): Promise<T> {
    const client = await this.pool.connect().catch((e) => Promise.reject(this.classify(e)));
    let failed = false;
    try {
      await client.query(`${begin}; ${SET_LOCAL}${lock ? `; ${lock}` : ''}`);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      failed = true;
      await client.query('ROLLBACK').catch(() => {});
      throw this.classify(error);
    } finally {
      client.release(failed);
    }
  }
}

/** At most `n` tasks at a time; a finished task hands its slot straight to the next one waiting. */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

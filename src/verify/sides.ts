/**
 * Verify's connections to one server: every read is a short READ ONLY
 * transaction with the printing settings pinned by set_config(..., true), so
 * nothing leaks into (or depends on) a pooled session. Errors come out named
 * after the server they came from.
 */
import type pg from 'pg';
import type { DatabaseRole } from '../db/connect.js';
import { PIN_SETTINGS } from './table-sql.js';

export class Side {
  constructor(
    readonly role: DatabaseRole,
    readonly pool: pg.Pool,
    private readonly classify: (error: unknown, role: DatabaseRole) => Error,
  ) {}

  /** Runs `work` in one READ ONLY transaction; `snapshot`: REPEATABLE READ, so every statement sees one snapshot. */
  async read<T>(work: (client: pg.PoolClient) => Promise<T>, snapshot = false): Promise<T> {
    return this.transaction(`BEGIN ISOLATION LEVEL ${snapshot ? 'REPEATABLE READ' : 'READ COMMITTED'} READ ONLY`, work);
  }

  /** Runs `work` in one read-write transaction (repair), settings pinned; `begin` may add SET LOCALs. */
  async write<T>(work: (client: pg.PoolClient) => Promise<T>, setLocal = ''): Promise<T> {
    return this.transaction(`BEGIN${setLocal ? `; ${setLocal}` : ''}`, work);
  }

  /** A connection of its own, no transaction opened (for helpers that manage theirs). */
  async session<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((e) => Promise.reject(this.classify(e, this.role)));
    let failed = false;
    try {
      return await work(client);
    } catch (error) {
      failed = true;
      throw this.classify(error, this.role);
    } finally {
      client.release(failed);
    }
  }

  private async transaction<T>(begin: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((e) => Promise.reject(this.classify(e, this.role)));
    let failed = false;
    try {
      await client.query(`${begin}; ${PIN_SETTINGS}`);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      failed = true;
      await client.query('ROLLBACK').catch(() => {});
      throw this.classify(error, this.role);
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

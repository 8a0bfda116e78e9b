/**
 * The replicator's own DDL on a live database (install, add, remove, resync,
 * column adds) runs in a transaction with a short lock_timeout, retried with
 * backoff: a statement that waits for a lock makes every later writer of the
 * table wait behind it, so it gives up quickly instead of queueing behind a
 * long transaction while holding up the application's writes.
 */
import type pg from 'pg';
import { SET_LOCAL } from './session-settings.js';

export interface DdlOptions {
  /** How long one attempt may wait for a lock (default 3 s). */
  lockTimeoutMs?: number;
  /** Attempts before giving up (default 10: about a minute in all). */
  attempts?: number;
  /** Told before each retry. */
  onRetry?: (attempt: number, waitMs: number) => void;
}

const LOCK_NOT_AVAILABLE = '55P03';

export async function ddlTransaction<T>(
  client: pg.ClientBase,
  work: (client: pg.ClientBase) => Promise<T>,
  options: DdlOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 10;
  const lockTimeoutMs = options.lockTimeoutMs ?? 3000;
  for (let attempt = 1; ; attempt++) {
    await client.query(`BEGIN; ${SET_LOCAL}; SET LOCAL lock_timeout = ${Math.round(lockTimeoutMs)}`);
    try {
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE || attempt >= attempts) throw error;
      const waitMs = Math.min(200 * 2 ** (attempt - 1), 5000);
      options.onRetry?.(attempt, waitMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

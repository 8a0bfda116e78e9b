/**
 * pg-replicator, started in this process exactly as `replicator run` wires it
 * (startService), with its defaults except a free HTTP port and no logging.
 */
import type pg from 'pg';
import { parseConfig } from '../src/config/parse-config.js';
import { createLogger } from '../src/log.js';
import { type Service, startService } from '../src/service.js';
import { BenchFailure, waitUntil } from './measure.js';

export interface OursOptions {
  /** Extra environment for parseConfig, e.g. USE_LISTEN / POLL_INTERVAL for seed mode. */
  env?: Record<string, string>;
}

/**
 * Starts the service and waits until it has finished its first (empty) batch
 * and, when LISTEN is on, holds its LISTEN connection: a write before that
 * would be picked up by the start-up wake rather than a notification.
 */
export async function startOurs(
  primary: pg.ClientBase,
  urls: { primaryUrl: string; replicaUrl: string },
  timeoutMs: number,
  options: OursOptions = {},
): Promise<Service> {
  const config = parseConfig({ HTTP_PORT: '0', LOG_LEVEL: 'silent', ...options.env });
  const since = await serverNow(primary);
  const service = await startService(config, urls, createLogger('silent'));
  try {
    await waitUntil('pg-replicator: first batch', async () => service.status.state === 'running', timeoutMs);
    if (config.listen) await waitForListener(primary, since, timeoutMs);
  } catch (error) {
    await service.stop();
    const reason = service.status.lastError ? ` (last error: ${service.status.lastError})` : '';
    throw new BenchFailure(`${(error as Error).message}${reason}`);
  }
  return service;
}

/** The primary's clock, to tell this run's sessions from a previous run's that are still closing. */
export async function serverNow(primary: pg.ClientBase): Promise<string> {
  const { rows } = await primary.query<{ t: string }>('SELECT clock_timestamp()::text AS t');
  return rows[0]?.t as string;
}

/** Waits until a session opened since `since` LISTENs on the replicator's channel (in-process or child). */
export async function waitForListener(primary: pg.ClientBase, since: string, timeoutMs: number): Promise<void> {
  await waitUntil(
    'pg-replicator: LISTEN connection',
    async () => {
      const { rows } = await primary.query(
        "SELECT FROM pg_stat_activity WHERE query ILIKE 'LISTEN pg_replicator%' AND backend_start >= $1::timestamptz",
        [since],
      );
      return rows.length > 0;
    },
    timeoutMs,
  );
}

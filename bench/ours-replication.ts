/**
 * pg-replicator, started in this process exactly as `replicator run` wires it
 * (startService), with its defaults except a free HTTP port and no logging;
 * or, on request, as a separate `replicator run` process.
 */
import type pg from 'pg';
import { parseConfig } from '../src/config/parse-config.js';
import { createLogger } from '../src/log.js';
import { startService } from '../src/service.js';
import { BenchFailure, waitUntil } from './measure.js';
import { startReplicatorChild } from './replicator-child.js';

export interface OursOptions {
  /** Extra environment for parseConfig, e.g. USE_LISTEN / POLL_INTERVAL for seed mode. */
  env?: Record<string, string>;
  /**
   * Run it as its own process (`node bin/replicator.js run`) instead of in the
   * benchmark's: then it does not share a JavaScript thread with the writers
   * and the catch-up polls, as in a real deployment.
   */
  child?: boolean;
}

export interface OursRun {
  stop(): Promise<void>;
  /** Its state and last error, for a failure message. */
  diagnose(): Promise<string>;
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
): Promise<OursRun> {
  const config = parseConfig({ HTTP_PORT: '0', LOG_LEVEL: 'silent', ...options.env });
  const since = await serverNow(primary);
  if (options.child) {
    const child = await startReplicatorChild(urls, timeoutMs, { env: options.env });
    try {
      if (config.listen) await waitForListener(primary, since, timeoutMs);
    } catch (error) {
      await child.stop();
      throw new BenchFailure(`${(error as Error).message}; replicator output: ${child.output().trim()}`);
    }
    return { stop: () => child.stop(), diagnose: async () => `replicator output: ${child.output().trim() || '(none)'}` };
  }
  const service = await startService(config, urls, createLogger('silent'));
  const diagnose = async () => `pg-replicator state ${service.status.state}, last error: ${service.status.lastError ?? 'none'}`;
  try {
    await waitUntil(
      'pg-replicator: first batch',
      async () => {
        // Fresh servers and schemas leave no reason to fail: report it now rather than at the timeout.
        if (service.status.state === 'failing') throw new BenchFailure('pg-replicator failed at start');
        return service.status.state === 'running';
      },
      timeoutMs,
    );
    if (config.listen) await waitForListener(primary, since, timeoutMs);
  } catch (error) {
    await service.stop();
    throw new BenchFailure(`${(error as Error).message}; ${await diagnose()}`);
  }
  return { stop: () => service.stop(), diagnose };
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

/**
 * pg-replicator, set up and run exactly as its README tells a user to:
 *
 *   replicator install-primary --primary-url … --replica-url …
 *   replicator install-replica --primary-url … --replica-url …
 *   replicator add <tables…> --primary-url … --replica-url … --no-wait
 *   replicator run            (PRIMARY_DATABASE_URL, REPLICA_DATABASE_URL)
 *
 * each as its own process of the installed command (replicator-process.ts),
 * with the defaults except a free HTTP port and warnings-only logging. The
 * benchmark reads nothing the replicator installs: readiness comes from its
 * /status and from the primary's pg_stat_activity.
 */
import { BenchFailure, waitUntil } from './measure.js';
import type { MethodName, ReplicationMethod, ReplicationRun } from './methods.js';
import { runReplicatorCommand, type SpawnOptions, startReplicatorRun } from './replicator-process.js';
import type { RunDatabases } from './servers.js';

export interface OursVariant {
  name: MethodName;
  /** Environment every replicator process of this method gets (e.g. CAPTURE_MODE=logical). */
  env?: Record<string, string>;
  /** Whether `replicator run` holds a LISTEN session on the primary when it waits (trigger capture with LISTEN on). */
  listens: boolean;
}

async function installCapture(
  variant: OursVariant,
  db: RunDatabases,
  tables: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const env = variant.env;
  // Both URLs to every command, as a user with both set in the environment or .env (the README's way) does.
  const urls = ['--primary-url', db.primaryUrl, '--replica-url', db.replicaUrl];
  await Promise.all([
    runReplicatorCommand(['install-primary', ...urls], timeoutMs, { env }),
    runReplicatorCommand(['install-replica', ...urls], timeoutMs, { env }),
  ]);
  // --no-wait: rows already in a table are copied by `replicator run`, started next.
  await runReplicatorCommand(['add', ...tables, ...urls, '--no-wait'], timeoutMs, { env });
}

/**
 * A notification sent before the replicator's LISTEN session exists would be
 * missed and picked up only by the 5 s fallback poll. The run's database is
 * fresh, so any LISTEN session in it is the replicator's.
 */
async function waitForListener(db: RunDatabases, timeoutMs: number): Promise<void> {
  await waitUntil(
    `pg-replicator: a session LISTENing on the primary's database ${db.name}`,
    async () => {
      const { rows } = await db.primary.query(
        "SELECT FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN %'",
      );
      return rows.length > 0;
    },
    timeoutMs,
    10,
  );
}

async function start(
  variant: OursVariant,
  db: RunDatabases,
  tables: readonly string[],
  timeoutMs: number,
  options: SpawnOptions = {},
): Promise<ReplicationRun> {
  await installCapture(variant, db, tables, timeoutMs);
  const env = { ...variant.env, ...options.env };
  const child = await startReplicatorRun({ primaryUrl: db.primaryUrl, replicaUrl: db.replicaUrl }, timeoutMs, {
    ...options,
    env,
  });
  const diagnose = async () => {
    const s = await child.status();
    const state = s
      ? `pg-replicator state ${String(s.state)}, last error: ${String(s.last_error ?? 'none')}`
      : 'no /status answer';
    return `${state}; replicator output: ${child.output() || '(none)'}`;
  };
  try {
    // The process inherits this one's environment: a USE_LISTEN=false there counts too.
    if (variant.listens && (env.USE_LISTEN ?? process.env.USE_LISTEN) !== 'false') await waitForListener(db, timeoutMs);
  } catch (error) {
    const state = await diagnose();
    await child.stop();
    throw new BenchFailure(`${(error as Error).message}; ${state}`);
  }
  return { settings: { ...env }, process: child, stop: () => child.stop(), diagnose };
}

export function oursMethod(variant: OursVariant): ReplicationMethod {
  const env = Object.entries(variant.env ?? {}).map(([k, v]) => `${k}=${v} `);
  return {
    name: variant.name,
    describe: () =>
      `pg-replicator: replicator install-primary, install-replica, add, then ${env.join('')}replicator run, each its own process`,
    installCapture: (db, tables, timeoutMs) => installCapture(variant, db, tables, timeoutMs),
    start: (db, tables, timeoutMs, options) => start(variant, db, tables, timeoutMs, options),
  };
}

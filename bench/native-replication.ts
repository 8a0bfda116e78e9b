/**
 * The yardstick: PostgreSQL's built-in logical replication of the same tables
 * between the same two servers, with the subscription's defaults (whatever
 * this PostgreSQL version chooses for streaming, synchronous_commit and so on;
 * they are recorded in the results).
 */
import type pg from 'pg';
import { BenchFailure, waitUntil } from './measure.js';
import type { ReplicationMethod, ReplicationRun } from './methods.js';
import type { RunDatabases } from './servers.js';

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

// pg_subscription.substream is a "char": f = off, t = on, p = parallel.
const STREAMING: Record<string, string> = { f: 'off', t: 'on', p: 'parallel' };

/** The apply worker's view, for a failure message. */
async function describeSubscription(replica: pg.ClientBase, subscription: string): Promise<string> {
  const { rows } = await replica.query<{ pid: number | null; received: string | null; last_msg: string | null }>(
    'SELECT pid, received_lsn::text AS received, last_msg_receipt_time::text AS last_msg FROM pg_stat_subscription WHERE subname = $1 AND relid IS NULL',
    [subscription],
  );
  const row = rows[0];
  return row
    ? `native apply worker pid ${row.pid ?? 'none'}, received up to ${row.received}, last message ${row.last_msg}`
    : 'native apply worker not running';
}

/**
 * Publishes the tables on the primary and subscribes the replica to them
 * (copy_data, as a user starting out does), then waits until every table's
 * initial sync is done and the apply worker streams, so no start-up cost falls
 * into a measurement.
 */
async function start(db: RunDatabases, tables: readonly string[], timeoutMs: number): Promise<ReplicationRun> {
  // Slot names are cluster-wide: one per run's database.
  const publication = `pub_${db.name}`;
  const subscription = `sub_${db.name}`;
  const { primary, replica } = db;
  await primary.query(`CREATE PUBLICATION ${publication} FOR TABLE ${tables.join(', ')}`);
  await replica.query(`CREATE SUBSCRIPTION ${subscription} CONNECTION ${literal(db.primaryUrl)} PUBLICATION ${publication}`);
  const stop = async () => {
    // Dropping the subscription also drops its slot on the primary, so no WAL is retained afterwards.
    await replica.query(`DROP SUBSCRIPTION IF EXISTS ${subscription}`);
    await primary.query(`DROP PUBLICATION IF EXISTS ${publication}`);
  };
  const diagnose = () => describeSubscription(replica, subscription);
  try {
    await waitUntil(
      `native replication: initial sync of ${tables.join(', ')} done and apply worker running`,
      async () => {
        const { rows } = await replica.query<{ ready: boolean }>(
          `SELECT (SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
                   WHERE s.subname = $1 AND r.srsubstate = 'r') = $2
              AND EXISTS (SELECT FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL AND relid IS NULL) AS ready`,
          [subscription, tables.length],
        );
        return rows[0]?.ready === true;
      },
      timeoutMs,
      10,
    );
    await waitUntil(
      'native replication: walsender streaming',
      async () => {
        const { rows } = await primary.query(
          "SELECT FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'",
          [subscription],
        );
        return rows.length > 0;
      },
      timeoutMs,
      10,
    );
  } catch (error) {
    const state = await diagnose().catch(() => 'state unknown');
    await stop().catch(() => {});
    throw new BenchFailure(`${(error as Error).message}; ${state}`);
  }
  const { rows } = await replica.query<{ substream: string; subsynccommit: string; subbinary: boolean }>(
    'SELECT substream::text, subsynccommit, subbinary FROM pg_subscription WHERE subname = $1',
    [subscription],
  );
  const row = rows[0];
  if (!row) throw new BenchFailure('native replication: subscription vanished after creation');
  return {
    settings: {
      streaming: STREAMING[row.substream] ?? row.substream,
      synchronous_commit: row.subsynccommit,
      binary: row.subbinary,
    },
    stop,
    diagnose,
  };
}

export const nativeMethod: ReplicationMethod = {
  name: 'native',
  describe: () => 'PostgreSQL logical replication: CREATE PUBLICATION ... FOR TABLE, CREATE SUBSCRIPTION with its defaults',
  start: (db, tables, timeoutMs) => start(db, tables, timeoutMs),
};

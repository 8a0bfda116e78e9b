/**
 * The yardstick: PostgreSQL's built-in logical replication of the same users
 * table between the same two servers, with the subscription's defaults
 * (whatever this PostgreSQL version chooses for streaming, synchronous_commit
 * and so on; they are recorded in the results).
 */
import type pg from 'pg';
import { BenchFailure, waitUntil } from './measure.js';

const PUBLICATION = 'bench_pub';
const SUBSCRIPTION = 'bench_sub';

export interface NativeSettings {
  streaming: string;
  synchronousCommit: string;
  binary: boolean;
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** Removes any subscription and publication: before tables are dropped, and at the end of each native run. */
export async function stopNativeReplication(primary: pg.ClientBase, replica: pg.ClientBase): Promise<void> {
  // Dropping the subscription also drops its slot on the primary, so no WAL is retained afterwards.
  await replica.query(`DROP SUBSCRIPTION IF EXISTS ${SUBSCRIPTION}`);
  await primary.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
}

/**
 * Publishes users on the primary and subscribes the replica to it, then waits
 * until the table's initial sync is done and the apply worker streams, so no
 * start-up cost falls into a measurement.
 */
export async function startNativeReplication(
  primary: pg.ClientBase,
  replica: pg.ClientBase,
  primaryUrl: string,
  timeoutMs: number,
): Promise<NativeSettings> {
  await primary.query(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE users`);
  await replica.query(`CREATE SUBSCRIPTION ${SUBSCRIPTION} CONNECTION ${literal(primaryUrl)} PUBLICATION ${PUBLICATION}`);
  await waitUntil(
    'native replication: subscription ready',
    async () => {
      const { rows } = await replica.query<{ ready: boolean }>(
        `SELECT (SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
                 WHERE s.subname = $1 AND r.srsubstate = 'r') = 1
            AND EXISTS (SELECT FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL AND relid IS NULL) AS ready`,
        [SUBSCRIPTION],
      );
      return rows[0]?.ready === true;
    },
    timeoutMs,
  );
  await waitUntil(
    'native replication: walsender streaming',
    async () => {
      const { rows } = await primary.query("SELECT FROM pg_stat_replication WHERE state = 'streaming'");
      return rows.length > 0;
    },
    timeoutMs,
  );
  const { rows } = await replica.query<{ substream: string; subsynccommit: string; subbinary: boolean }>(
    'SELECT substream::text, subsynccommit, subbinary FROM pg_subscription WHERE subname = $1',
    [SUBSCRIPTION],
  );
  const row = rows[0];
  if (!row) throw new BenchFailure('native replication: subscription vanished after creation');
  return { streaming: streamingName(row.substream), synchronousCommit: row.subsynccommit, binary: row.subbinary };
}

/** The apply worker's view, for a failure message. */
export async function describeSubscription(replica: pg.ClientBase): Promise<string> {
  const { rows } = await replica.query<{ pid: number | null; received: string | null; last_msg: string | null }>(
    'SELECT pid, received_lsn::text AS received, last_msg_receipt_time::text AS last_msg FROM pg_stat_subscription WHERE subname = $1 AND relid IS NULL',
    [SUBSCRIPTION],
  );
  const row = rows[0];
  return row
    ? `native apply worker pid ${row.pid ?? 'none'}, received up to ${row.received}, last message ${row.last_msg}`
    : 'native apply worker not running';
}

// pg_subscription.substream is a "char": f = off, t = on, p = parallel.
function streamingName(code: string): string {
  return ({ f: 'off', t: 'on', p: 'parallel' } as Record<string, string>)[code] ?? code;
}

/**
 * The wakeup token (sequence replicator.wakeup): when the replicator runs out
 * of work it arms the token; the first captured statement after that draws
 * it and sends one NOTIFY; every later one sends nothing. PostgreSQL
 * serializes the commits of notifying transactions, so this way at most one
 * writer per wait pays for it, and a sequence, not a row, carries the state:
 * no lock, and writers in REPEATABLE READ or SERIALIZABLE see it as it is.
 * The capture never notifies where max_prepared_transactions > 0 (a
 * transaction that notified cannot PREPARE): there the replicator polls.
 *
 * The race: a writer that drew the token just before it was armed sends no
 * notification. Its transaction had an id when the token was armed, so it is
 * visible in, or in progress at, the first snapshot taken after that; the
 * loop polls until every transaction in progress then has finished.
 */
import type { Database } from '../../db/database.js';

export async function armWakeup(primary: Database): Promise<void> {
  await primary.query("SELECT pg_catalog.setval('replicator.wakeup', 1, false)");
}

/** Whether writers notify at all on this primary (see above). */
export async function writersNotify(primary: Database): Promise<boolean> {
  const { rows } = await primary.query<{ n: string }>("SELECT pg_catalog.current_setting('max_prepared_transactions') AS n");
  return rows[0]?.n === '0';
}

/** Transaction ids in progress at a snapshot ('xmin:xmax:xip,...'). */
export function inProgress(snapshot: string): bigint[] {
  const xip = snapshot.split(':')[2] ?? '';
  return xip === '' ? [] : xip.split(',').map((x) => BigInt(x));
}

/** Whether transaction `xid` had finished (committed or aborted) as of `snapshot`. */
export function finishedBy(xid: bigint, snapshot: string): boolean {
  // Only xmin and xmax: the third field is the list of transactions in progress ('10,11'), no number.
  const [xmin, xmax] = snapshot.split(':', 2).map((x) => BigInt(x)) as [bigint, bigint];
  return xid < xmin || (xid < xmax && !inProgress(snapshot).includes(xid));
}

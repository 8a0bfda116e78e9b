/**
 * The logical slot: created once with pgoutput, read for its health
 * (retained WAL = pg_current_wal_lsn() - confirmed_flush_lsn, and whether the
 * server invalidated it), dropped at uninstall and when the set empties.
 *
 * A slot that is missing or invalidated while the replica holds a logical
 * position means changes after that position are gone from the WAL: it is a
 * SlotLostError naming `replicator resync --all`, never a silent restart
 * from wherever a new slot begins.
 */
import type { Logger } from 'pino';
import type { Queryable } from '../../db/database.js';
import { ReplicatorError } from '../../errors.js';

export const DEFAULT_SLOT = 'pg_replicator';

export class SlotLostError extends ReplicatorError {
  constructor(slot: string, why: string) {
    super(
      'CAPTURE_BROKEN',
      `primary: replication slot ${slot} ${why}, so changes since the replica's position are gone from the WAL; run \`replicator resync --all\` (every table is copied afresh from a new slot), and set max_slot_wal_keep_size with room for the longest outage you expect`,
    );
    this.name = 'SlotLostError';
  }
}

export interface SlotState {
  exists: boolean;
  /** The server invalidated it (wal_status 'lost': max_slot_wal_keep_size exceeded, or a conflict). */
  lost: boolean;
  active: boolean;
  /** The walsender streaming it, while active. */
  activePid: number | null;
  confirmedFlush: string | null;
  /** Bytes of WAL the slot holds back; null when unknown. */
  retainedBytes: number | null;
}

export async function readSlot(primary: Queryable, slot: string): Promise<SlotState> {
  const { rows } = await primary.query<{
    wal_status: string | null;
    database: string | null;
    here: string;
    plugin: string | null;
    active: boolean;
    active_pid: number | null;
    confirmed: string | null;
    retained: string | null;
  }>(
    `SELECT s.wal_status, s.database::text AS database, pg_catalog.current_database()::text AS here, s.plugin::text AS plugin,
            s.active, s.active_pid, s.confirmed_flush_lsn::text AS confirmed,
            (pg_catalog.pg_current_wal_lsn() OPERATOR(pg_catalog.-) s.confirmed_flush_lsn)::text AS retained
     FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = $1`,
    [slot],
  );
  const row = rows[0];
  if (row && (row.database !== row.here || row.plugin !== 'pgoutput')) {
    // Slot names are the cluster's: another database (or another tool) has this one.
    throw new ReplicatorError(
      'CONFIG_INVALID',
      `primary: replication slot ${slot} already belongs to ${row.database === null ? 'a physical standby' : `database ${row.database}`}${row.plugin && row.plugin !== 'pgoutput' ? ` (plugin ${row.plugin})` : ''} of this cluster, and slot names are cluster-wide; set REPLICATION_SLOT to a name of its own for this database (e.g. pg_replicator_${row.here.replace(/[^a-z0-9_]/g, '_')})`,
    );
  }
  if (!row) return { exists: false, lost: false, active: false, activePid: null, confirmedFlush: null, retainedBytes: null };
  return {
    exists: true,
    lost: row.wal_status === 'lost',
    active: row.active,
    activePid: row.active_pid,
    confirmedFlush: row.confirmed,
    retainedBytes: row.retained === null ? null : Number(row.retained),
  };
}

/**
 * Until no walsender streams the slot: the stream of a replicator that was
 * killed ends as soon as its walsender sees the connection closed (a
 * partitioned one only at wal_sender_timeout). Still held after `waitMs`:
 * another process streams it, and starting a second stream would fail.
 */
export async function waitForSlotRelease(primary: Queryable, slot: string, waitMs: number): Promise<SlotState> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const state = await readSlot(primary, slot);
    if (!state.active) return state;
    if (Date.now() >= deadline) {
      throw new ReplicatorError(
        'SOURCE_MISMATCH',
        `primary: replication slot ${slot} is in use by PID ${state.activePid}: either another replicator streams it (stop it, or give each replica its own REPLICATION_SLOT), or a stopped replicator's stream lingers until the primary's wal_sender_timeout ends it; retrying`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function createSlot(primary: Queryable, slot: string): Promise<void> {
  await primary.query("SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
}

export async function dropSlot(primary: Queryable, slot: string): Promise<boolean> {
  const { rows } = await primary.query(
    `SELECT pg_catalog.pg_drop_replication_slot(s.slot_name)::text AS dropped
     FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = $1 AND s.database = pg_catalog.current_database()`,
    [slot],
  );
  return rows.length > 0;
}

/**
 * In trigger mode, at start: an inactive slot of ours (left by logical mode)
 * only retains WAL, so it is dropped; where this login may not, a warning
 * says how. Never fails the start.
 */
export async function dropUnusedSlot(primary: Queryable, slot: string, log: Logger): Promise<void> {
  try {
    // A slot of that name in another database is another replicator's: not ours to drop.
    const state = await readSlot(primary, slot).catch((error) => {
      if (error instanceof ReplicatorError && error.code === 'CONFIG_INVALID') return null;
      throw error;
    });
    if (!state?.exists || state.active) return;
    await dropSlot(primary, slot);
    log.info({ slot }, `trigger capture: dropped replication slot ${slot}, left from logical mode (it only retained WAL)`);
  } catch (error) {
    log.warn(
      { slot, err: (error as Error).message },
      `trigger capture: replication slot ${slot} may be left from logical mode and retain WAL; drop it as a superuser: SELECT pg_drop_replication_slot('${slot}')`,
    );
  }
}

/**
 * CAPTURE_MODE=auto decides once, at start, from what the primary allows:
 * logical where wal_level is logical, this login may use replication slots
 * (REPLICATION, superuser, or rds_replication on RDS), a slot is free, and
 * publication pg_replicator exists (`replicator init` creates it as the
 * owner); otherwise trigger. The reason is returned for the log. An explicit
 * CAPTURE_MODE=logical that the primary cannot serve is an error naming what
 * is missing, never a silent fallback.
 */
import type { CaptureMode } from '../config/parse-config.js';
import type { Queryable } from '../db/database.js';
import { ReplicatorError } from '../errors.js';
import { PUBLICATION, publicationExists } from './publication.js';

export interface ModeChoice {
  mode: 'trigger' | 'logical';
  reason: string;
}

/** What logical mode lacks on this primary; empty when it can run. */
export async function logicalBlockers(primary: Queryable, slot: string): Promise<string[]> {
  const { rows } = await primary.query<{
    wal_level: string;
    may_replicate: boolean;
    slots: number;
    used: number;
    own_slot: boolean;
  }>(
    `SELECT pg_catalog.current_setting('wal_level') AS wal_level,
            (SELECT r.rolreplication OR r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
              OR EXISTS (SELECT FROM pg_catalog.pg_roles g WHERE g.rolname = 'rds_replication'
                         AND pg_catalog.pg_has_role(CURRENT_USER, g.oid, 'MEMBER')) AS may_replicate,
            pg_catalog.current_setting('max_replication_slots')::int AS slots,
            (SELECT pg_catalog.count(*)::int FROM pg_catalog.pg_replication_slots) AS used,
            EXISTS (SELECT FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = $1) AS own_slot`,
    [slot],
  );
  const row = rows[0];
  if (!row) return ['the primary did not answer'];
  const blockers: string[] = [];
  if (row.wal_level !== 'logical')
    blockers.push(`wal_level is ${row.wal_level}, not logical (set wal_level = logical and restart the primary)`);
  if (!row.may_replicate)
    blockers.push(
      'this login may not use replication slots (ALTER ROLE <login> REPLICATION; on RDS: GRANT rds_replication TO <login>)',
    );
  if (!row.own_slot && row.used >= row.slots)
    blockers.push(`no replication slot is free (max_replication_slots = ${row.slots}, all used)`);
  if (!(await publicationExists(primary))) {
    blockers.push(
      `publication ${PUBLICATION} does not exist (run \`replicator init primary\` with CAPTURE_MODE=logical as the tables' owner)`,
    );
  }
  return blockers;
}

export async function chooseCaptureMode(primary: Queryable, mode: CaptureMode, slot: string): Promise<ModeChoice> {
  if (mode === 'trigger') return { mode: 'trigger', reason: 'CAPTURE_MODE=trigger' };
  const blockers = await logicalBlockers(primary, slot);
  if (blockers.length === 0) {
    return {
      mode: 'logical',
      reason: `CAPTURE_MODE=${mode}: wal_level is logical, this login may use slot ${slot}, publication ${PUBLICATION} exists`,
    };
  }
  if (mode === 'auto') return { mode: 'trigger', reason: `CAPTURE_MODE=auto chose trigger capture: ${blockers.join('; ')}` };
  throw new ReplicatorError('CONFIG_INVALID', `CAPTURE_MODE: logical, but the primary does not allow it: ${blockers.join('; ')}`);
}

/**
 * Start-up, and after any schema change or error: check both databases are
 * the ones the stored position belongs to and carry this package's
 * migrations; read the replication set from the primary's registry; hold each
 * table's capture and the replica's table against the primary's catalog; and
 * work out which tables need (more of) an initial copy. Runs inside the
 * loop's retry, so a missing table or column pauses replication with a clear
 * error and resumes once it is fixed.
 */
import type { Logger } from 'pino';
import { ensureReplicationSet } from '../capture/ensure-replication-set.js';
import { partitionChange } from '../capture/partition-changes.js';
import type { Database } from '../db/database.js';
import { ddlTransaction } from '../db/ddl-transaction.js';
import { pendingMigrations } from '../db/migrate.js';
import { displayName } from '../db/quote.js';
import { REPLICATION_ROLE } from '../db/session-settings.js';
import { ReplicatorError } from '../errors.js';
import { readCopyProgress } from '../initial-copy/copy-progress.js';
import { dropUnusedSlot } from '../source/logical/slot.js';
import type { ReplicaPosition } from '../source/position.js';
import type { PreparedTables, Source } from '../source/source.js';
import { checkSource, claimPrimary, readIdentity } from '../source/source-identity.js';
import { SNAPSHOT_AND_FINGERPRINT } from '../source/trigger/read-inline-batch.js';
import { addMissingColumns } from '../tables/add-missing-columns.js';
import { describeBothSides, describeReplicatedTable } from '../tables/describe-replicated-table.js';
import { describeTable } from '../tables/describe-table.js';
import { orderByReferences } from '../tables/order-by-references.js';
import { readRegistry } from '../tables/registry.js';
import type { ReplicatedTable } from '../tables/table-model.js';

export interface PrepareOptions {
  addColumns: boolean;
  ensureTables: readonly string[];
  /** Logical mode's slot name (REPLICATION_SLOT): dropped when switching back to trigger capture. */
  replicationSlot?: string;
}

let warnedAboutRole = false;

export async function prepareTables(
  primary: Database,
  replica: Database,
  source: Source,
  position: ReplicaPosition,
  log: Logger,
  options: PrepareOptions,
): Promise<PreparedTables> {
  await checkMigrations(primary);
  await checkMigrations(replica);
  const [primaryIdentity, replicaIdentity] = await Promise.all([
    primary.on(readIdentity(primary)),
    replica.on(readIdentity(replica)),
  ]);
  checkSource(primaryIdentity, position);
  // Switched from logical to trigger capture: the slot left behind would retain WAL without end.
  if (position.source?.mode === 'logical' && source.mode === 'trigger' && options.replicationSlot) {
    await dropUnusedSlot(primary, options.replicationSlot, log);
  }
  await primary.on(claimPrimary(primary, replicaIdentity));
  if (options.ensureTables.length > 0) await ensureReplicationSet(primary, replica, options.ensureTables, log);

  // The fingerprint first: a change after it is caught by the next batch's own fingerprint.
  const { rows } = await primary.query<{ fingerprint: string }>(SNAPSHOT_AND_FINGERPRINT);
  const fingerprint = (rows[0] as { fingerprint: string }).fingerprint;
  const tables: ReplicatedTable[] = [];
  const copies: PreparedTables['copies'] = new Map();
  for (const entry of await readRegistry(primary)) {
    const description = await describeTable(primary, entry.table);
    await source.checkTable(entry, description);
    if (description?.partitioned) {
      const change = await partitionChange(primary, replica, entry);
      if (change?.copy) {
        log.info(
          { table: displayName(entry.table) },
          `${change.detail}: rows moved without a captured statement; copying the table`,
        );
        await primary.query('SELECT replicator.request_copy($1, $2)', [entry.table.schema, entry.table.name]);
      }
      await change?.record();
    }
    const table = await (async () => {
      let sides = await describeBothSides(primary, replica, entry);
      if (!sides) throw new Error(`${displayName(entry.table)} vanished while being described`);
      // A replica column the primary lacks, of a missing column's type, may be
      // the same column renamed on the primary: adding would guess; pause instead.
      const renamed =
        sides.replica?.columns.some(
          (c) => !sides?.primary.columns.some((p) => p.name === c.name) && sides?.missing.some((m) => m.type === c.type),
        ) ?? false;
      if (sides.missing.length > 0 && sides.replica && options.addColumns && !renamed) {
        const { primary: described, missing } = sides;
        const added = await replica.session((client) =>
          ddlTransaction(client, () => addMissingColumns(client, described, missing)),
        );
        log.info({ table: displayName(entry.table), columns: added.added }, 'added columns to the replica table');
        if (added.needsCopy) {
          log.info(
            { table: displayName(entry.table) },
            'existing rows of an added column are not known on the replica: copying the table',
          );
          await primary.query('SELECT replicator.request_copy($1, $2)', [entry.table.schema, entry.table.name]);
        }
        sides = (await describeBothSides(primary, replica, entry)) ?? sides;
      }
      return describeReplicatedTable(primary, replica, entry, sides);
    })();
    tables.push(table);
    // A replica without a position copies every table afresh from its first
    // snapshot; so does one whose position another capture mode wrote (a
    // trigger snapshot and a WAL position do not translate into each other).
    const switched = position.source !== null && position.source.mode !== source.mode;
    const progress = position.exists && !switched ? await replica.on(readCopyProgress(replica, entry.table)) : null;
    if (progress && progress.requestedAt === entry.copyRequestedAt) {
      if (!progress.done) copies.set(table, { progress, fresh: false });
    } else {
      const start = {
        table: entry.table,
        requestedAt: entry.copyRequestedAt,
        lastKey: null,
        rowsCopied: 0,
        rowsEstimated: null,
        done: false,
      };
      copies.set(table, { progress: start, fresh: true });
    }
  }
  const replicationRole = await mayUseReplicationRole(replica);
  if (!replicationRole && !warnedAboutRole) {
    warnedAboutRole = true;
    log.warn(
      `replica: this role may not set ${REPLICATION_ROLE}, so replica triggers and foreign keys fire during apply (foreign keys between replicated tables are applied parents first); grant it (superuser, PostgreSQL 15+: GRANT SET ON PARAMETER ${REPLICATION_ROLE} TO <role>) or keep triggers that rewrite values off the replicated tables`,
    );
  }
  return {
    tables: await replica.on(orderByReferences(replica, tables)),
    fingerprint,
    replicationRole,
    copies,
    source: { systemId: primaryIdentity.systemId, database: primaryIdentity.database, mode: source.mode },
  };
}

/** This package's migrations must all be applied; the replicator's login usually may not apply them itself. */
async function checkMigrations(db: Database): Promise<void> {
  const pending = await db.on(pendingMigrations(db.pool, db.role));
  if (pending.length === 0) return;
  const names = pending.map((m) => `${m.version} (${m.name})`).join(', ');
  throw new ReplicatorError(
    'MIGRATION_REQUIRED',
    `${db.role}: pg-replicator's objects lack migration${pending.length === 1 ? '' : 's'} ${names}; run \`replicator init ${db.role}\` as the database owner (it applies them in one transaction)`,
  );
}

async function mayUseReplicationRole(replica: Database): Promise<boolean> {
  return replica
    .session(async (client) => {
      try {
        await client.query(`BEGIN; SET LOCAL ${REPLICATION_ROLE} = replica`);
        return true;
      } catch {
        return false;
      } finally {
        await client.query('ROLLBACK').catch(() => {});
      }
    })
    .catch(() => false);
}

/**
 * Start-up (and after any schema change or error): read the replication set
 * from the primary's registry, describe each table from the primary's
 * catalog, check the replica's table against it, load initial-copy progress,
 * and learn what the replica session may do. Runs inside the loop's retry, so
 * a missing table or column pauses replication with a clear error and
 * resumes once it is fixed.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { mayUseReplicationRole } from '../apply/begin-apply.js';
import { ensureReplicationSet } from '../capture/ensure-replication-set.js';
import { listTables } from '../capture/replication-set.js';
import { displayName } from '../db/quote.js';
import { type CopyProgress, readCopyProgress } from '../snapshot/copy-progress.js';
import { readSchemaVersion } from '../source/take-snapshot.js';
import { type BatchContext, on } from './replicate-batch.js';
import { checkReplicaTable, describeReplicatedTable, type ReplicatedTable } from './replicated-table.js';

export interface PreparedTables {
  tables: readonly ReplicatedTable[];
  /** Whether the replica session may set session_replication_role = replica. */
  replicationRole: boolean;
  /** The fingerprint these descriptions were made from (see take-snapshot.ts). */
  schemaVersion: string;
  /** Tables whose initial copy is not finished; `fresh` ones start from an emptied replica table. */
  copies: Map<ReplicatedTable, { progress: CopyProgress; fresh: boolean }>;
}

let warnedAboutRole = false;

export async function prepareTables(
  ctx: BatchContext,
  log: Logger,
  options: { addColumns: boolean; ensureTables: readonly string[] },
): Promise<PreparedTables> {
  const onPrimary = on(ctx, 'primary');
  const onReplica = on(ctx, 'replica');
  const primary = await onPrimary(ctx.primary.connect());
  let replica: pg.PoolClient | undefined;
  try {
    if (options.ensureTables.length > 0) {
      replica = await onReplica(ctx.replica.connect());
      await ensureReplicationSet(primary, replica, options.ensureTables, log);
    }
    const schemaVersion = await onPrimary(readSchemaVersion(primary));
    const tables: ReplicatedTable[] = [];
    for (const entry of await onPrimary(listTables(primary)))
      tables.push(await onPrimary(describeReplicatedTable(primary, entry)));
    const replicaClient = replica ?? (await onReplica(ctx.replica.connect()));
    replica = replicaClient;
    const copies: PreparedTables['copies'] = new Map();
    for (const table of tables) {
      const added = await onReplica(checkReplicaTable(primary, replicaClient, table, options));
      if (added.length > 0) log.info({ table: displayName(table.table), columns: added }, 'added columns to the replica table');
      if (table.copyRequestedAt === null) continue;
      const progress = await onReplica(readCopyProgress(replicaClient, table.table));
      if (progress && progress.requestedAt === table.copyRequestedAt) {
        if (!progress.done) copies.set(table, { progress, fresh: false });
      } else {
        const start = {
          table: table.table,
          requestedAt: table.copyRequestedAt,
          lastKey: null,
          rowsCopied: 0,
          rowsEstimated: null,
          done: false,
        };
        copies.set(table, { progress: start, fresh: true });
      }
    }
    const replicationRole = await mayUseReplicationRole(replicaClient);
    if (!replicationRole && !warnedAboutRole) {
      warnedAboutRole = true;
      log.warn(
        'replica: this role may not set session_replication_role, so replica triggers and foreign keys fire during apply; grant it (superuser: GRANT SET ON PARAMETER session_replication_role TO <role>) or keep the replicated tables free of them',
      );
    }
    return { tables, replicationRole, schemaVersion, copies };
  } finally {
    primary.release();
    replica?.release();
  }
}

/**
 * Start-up (and after any schema error): read each replicated table from the
 * primary's catalog, check the replica's table against it, and learn what the
 * replica session may do. Runs inside the loop's retry, so a missing table or
 * column pauses replication with a clear error and resumes once it is fixed.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { mayUseReplicationRole } from '../apply/begin-apply.js';
import type { QualifiedName } from '../db/quote.js';
import type { BatchContext, PreparedTables } from './replicate-batch.js';
import { checkReplicaTable, describeReplicatedTable } from './replicated-table.js';

export interface TableSpec {
  table: QualifiedName;
  log: QualifiedName;
}

/** The demo's table and its change log: replicated by default. */
export const DEMO_TABLES: readonly TableSpec[] = [
  { table: { schema: 'public', name: 'users' }, log: { schema: 'public', name: 'user_changes' } },
];

let warnedAboutRole = false;

export async function prepareTables(ctx: BatchContext, specs: readonly TableSpec[], log: Logger): Promise<PreparedTables> {
  const onPrimary = <T>(work: Promise<T>) => work.catch((e) => Promise.reject(ctx.classify(e, 'primary')));
  const primary = await onPrimary(ctx.primary.connect());
  let replica: pg.PoolClient | undefined;
  try {
    const tables = [];
    for (const spec of specs) tables.push(await onPrimary(describeReplicatedTable(primary, spec.table, spec.log)));
    const replicaClient = await ctx.replica.connect().catch((e) => Promise.reject(ctx.classify(e, 'replica')));
    replica = replicaClient;
    for (const table of tables) await checkReplicaTable(primary, replicaClient, table);
    const replicationRole = await mayUseReplicationRole(replicaClient);
    if (!replicationRole && !warnedAboutRole) {
      warnedAboutRole = true;
      log.warn(
        'replica: this role may not set session_replication_role, so replica triggers and foreign keys fire during apply; grant it (superuser: GRANT SET ON PARAMETER session_replication_role TO <role>) or keep the replicated tables free of them',
      );
    }
    return { tables, replicationRole };
  } finally {
    primary.release();
    replica?.release();
  }
}

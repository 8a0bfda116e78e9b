/**
 * A Batch onto the replica, whichever source made it: in one autocommit
 * statement when every row travels inline (outside a transaction-mode
 * pooler), else in one explicit transaction. Either way the position moves
 * first and commits with the rows, or nothing does.
 */
import type { Database } from '../db/database.js';
import { faultPoint } from '../fault-point.js';
import { type Batch, isInline } from '../source/batch.js';
import type { ReplicaPosition } from '../source/position.js';
import type { SourceIdentity } from '../source/source-identity.js';
import type { ReplicatedTable } from '../tables/table-model.js';
import { type ApplyMode, applyBatchInTransaction, beginApply, type TransactionResult } from './apply-batch-in-transaction.js';
import { applyInlineBatch } from './apply-inline-batch.js';

export interface ApplyOptions {
  mode: ApplyMode;
  /** The replica's login may set session_replication_role = replica. */
  replicationRole: boolean;
  /** Every replicated table, parents before the tables that reference them (tables/order-by-references.ts). */
  order: readonly ReplicatedTable[];
}

export async function applyBatch(
  replica: Database,
  batch: Batch,
  from: ReplicaPosition,
  source: SourceIdentity,
  options: ApplyOptions,
): Promise<TransactionResult> {
  if (isInline(batch) && options.mode === 'upsert' && !replica.pooler) {
    faultPoint('before-replica-commit');
    const counts = await applyInlineBatch(replica, batch, from, source);
    faultPoint('after-replica-commit');
    return { counts, copied: [] };
  }
  const result = await replica.session(async (client) => {
    await beginApply(client, options.replicationRole);
    try {
      const applied = await applyBatchInTransaction(
        client,
        batch,
        from,
        source,
        options.mode,
        options.order,
        !options.replicationRole,
      );
      faultPoint('before-replica-commit');
      await client.query('COMMIT');
      return applied;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  });
  faultPoint('after-replica-commit');
  return result;
}

/**
 * A table's share of a batch that only inserts keys (no update, delete or
 * truncate among its changes, each key on one line) goes straight into the
 * replica table by COPY: no staging table, no upsert. It runs under a
 * savepoint; should a key already be there (a replica written to by someone
 * else, a row an earlier copy brought) or the table refuse COPY (row-level
 * security), the savepoint is rolled back and the caller applies the share
 * the staged way, whose upsert gives what it always gave. Either way the
 * replica ends up with the same rows; only the cost differs.
 */
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { StagedRows, TableBatch } from '../source/batch.js';
import { stagingPrefixFields } from '../tables/staging-table.js';
import { dropLeadingFields } from './drop-leading-fields.js';
import { copyIntoTable } from './table-statements.js';

/** unique_violation (the key is there already) and feature_not_supported (COPY FROM under row-level security). */
const FALL_BACK = new Set(['23505', '0A000']);
const SAVEPOINT = 'replicator_new_rows';

export type NewRowsShare = TableBatch & { rows: StagedRows };

/**
 * Whether the share's lines are all inserts, and can be read again should
 * the COPY fail. Inserts alone name each key once (the primary's unique key
 * refuses a second live row with an equal key; only a delete or an update
 * between them could free it), so no line overrides another. (Only when
 * upserting, and not for a table with a copy chunk in the batch: the
 * caller's to check.)
 */
export function onlyNewRows(part: TableBatch): part is NewRowsShare {
  const rows = part.rows;
  if (part.clear !== null || rows?.kind !== 'staged') return false;
  if (rows.repeatable !== true || rows.unchanged || (rows.truncatedBefore?.length ?? 0) > 0) return false;
  const { inserts, updates, deletes, truncates } = part.counts;
  return inserts > 0 && updates === 0 && deletes === 0 && truncates === 0;
}

/** The rows inserted, or null when the savepoint was rolled back and the share must be applied the staged way. */
export async function copyNewRows(replica: pg.ClientBase, part: NewRowsShare): Promise<number | null> {
  await replica.query(`SAVEPOINT ${SAVEPOINT}`);
  const strip = dropLeadingFields(stagingPrefixFields(part.table, part.rows.ordered === true));
  const sink = replica.query(copyFrom(copyIntoTable(part.table)));
  const into = pipeline(strip, sink);
  const [read, copied] = await Promise.allSettled([part.rows.copyInto(strip), into]);
  // The COPY's own error names the cause; the reading side then only saw its stream closed.
  const failed = copied.status === 'rejected' ? copied : read.status === 'rejected' ? read : null;
  if (failed) {
    const code = (failed.reason as { code?: unknown }).code;
    if (typeof code !== 'string' || !FALL_BACK.has(code)) throw failed.reason;
    await replica.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
    await replica.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
    return null;
  }
  await replica.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
  return Number(sink.rowCount ?? 0);
}

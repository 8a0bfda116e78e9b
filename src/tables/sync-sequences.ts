/**
 * Sequences are not rows: replicating a table leaves the replica's sequences
 * where they were, and after a failover the first insert would collide. This
 * moves each sequence a replicated table owns (serial and identity columns)
 * on the replica up to the primary's last value, never down: a replica
 * sequence already ahead is left alone. Names are matched by table and
 * column on each side (pg_get_serial_sequence), values read with
 * pg_sequence_last_value and set with setval, all schema-qualified.
 */
import type { Queryable } from '../db/database.js';
import { type QualifiedName, quoteQualified } from '../db/quote.js';

export interface SequenceSync {
  table: QualifiedName;
  column: string;
  /** The replica's sequence (as regclass text), or null when the replica's column owns none. */
  replicaSequence: string | null;
  primaryValue: string | null;
  before: string | null;
  /** What the replica's sequence holds now. */
  after: string | null;
}

const OWNED_SEQUENCES = `
  SELECT a.attname AS column, s.seq::regclass::text AS sequence, pg_catalog.pg_sequence_last_value(s.seq::regclass)::text AS value
  FROM pg_catalog.pg_attribute AS a,
       LATERAL (SELECT pg_catalog.pg_get_serial_sequence($1, a.attname) AS seq) AS s
  WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND s.seq IS NOT NULL
  ORDER BY a.attnum`;

interface Owned {
  column: string;
  sequence: string;
  value: string | null;
}

/** Brings the replica's sequences of `table` up to the primary's; returns one entry per primary sequence. */
export async function syncSequences(primary: Queryable, replica: Queryable, table: QualifiedName): Promise<SequenceSync[]> {
  const name = quoteQualified(table);
  const onPrimary = (await primary.query<Owned>(OWNED_SEQUENCES, [name])).rows;
  const onReplica = new Map((await replica.query<Owned>(OWNED_SEQUENCES, [name])).rows.map((r) => [r.column, r]));
  const synced: SequenceSync[] = [];
  for (const { column, value } of onPrimary) {
    const target = onReplica.get(column);
    const entry: SequenceSync = {
      table,
      column,
      replicaSequence: target?.sequence ?? null,
      primaryValue: value,
      before: target?.value ?? null,
      after: target?.value ?? null,
    };
    if (target && value !== null && (target.value === null || BigInt(target.value) < BigInt(value))) {
      const { rows } = await replica.query<{ v: string }>(
        'SELECT pg_catalog.setval(pg_catalog.to_regclass($1), $2::int8, true)::text AS v',
        [target.sequence, value],
      );
      entry.after = rows[0]?.v ?? null;
    }
    synced.push(entry);
  }
  return synced;
}

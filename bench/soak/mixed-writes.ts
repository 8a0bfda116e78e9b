/**
 * The soak's writes: single-row transactions on bench.items, in turn an
 * insert, an update and a delete, over a sliding window of ids. Invariant: as
 * many rows are deleted as inserted, so the table keeps the size it was seeded
 * with (hours of load leave the same 10,000 rows, and what the replicator
 * handles per minute stays the same): inserts take the next id above the
 * window, deletes the oldest id in it, updates a pseudo-random id inside it
 * (seeded, so a run can be replayed). With several transactions in flight an
 * update or delete may find its row already gone and change nothing; the
 * end-of-run check compares whatever the primary holds.
 */
import { ITEMS } from '../schema.js';

export type Statement = { text: string; values: unknown[] };

export interface MixedWrites {
  /** The next transaction's statement. */
  next(): Statement;
  /** Statements handed out so far, per kind. */
  counts(): { inserts: number; updates: number; deletes: number };
}

/** mulberry32: a small seeded generator, good enough to spread updates over the window. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes over the ids a seeded table already holds: 1..seededRows. */
export function mixedWrites(seededRows: number, seed = 1): MixedWrites {
  const random = generator(seed);
  let oldest = 1; // lowest id not yet deleted
  let newest = seededRows; // highest id inserted
  let issued = 0;
  const counts = { inserts: 0, updates: 0, deletes: 0 };
  return {
    next(): Statement {
      const kind = issued++ % 3;
      if (kind === 0) {
        const id = ++newest;
        counts.inserts++;
        return {
          text: `INSERT INTO ${ITEMS} (id, name, email) VALUES ($1, $2, $3)`,
          values: [id, `Item ${id}`, `item${id}@example.com`],
        };
      }
      if (kind === 1) {
        const id = oldest + Math.floor(random() * (newest - oldest + 1));
        counts.updates++;
        return {
          text: `UPDATE ${ITEMS} SET name = $2, updated_at = now() WHERE id = $1`,
          values: [id, `Updated ${id} #${issued}`],
        };
      }
      counts.deletes++;
      return { text: `DELETE FROM ${ITEMS} WHERE id = $1`, values: [oldest++] };
    },
    counts: () => ({ ...counts }),
  };
}

/**
 * Column renames this process has seen, by attribute number. The WAL names a
 * change's columns as they were when it was made; the model names them as
 * they are now. Every model the source is given is compared with the one
 * before it: an attribute that kept its number and changed its name was
 * renamed, so a change that still uses the earlier name belongs in the
 * column of the current name. Chains (a → b → c) resolve to the latest. An
 * attribute that is gone was dropped: a change that still names it holds a
 * value no column takes any more (and is no rename of a column added since,
 * which has another number). A replicator started after the rename or the
 * drop never saw the earlier name: then the change cannot be placed and is
 * refused (transaction-assembler.ts).
 */
import type { ReplicatedTable } from '../../tables/table-model.js';

const NONE: ReadonlySet<string> = new Set();

export class ColumnRenames {
  private byTable = new Map<number, { last: Map<number, string>; earlier: Map<string, string>; dropped: Set<string> }>();

  /** Compares each table's columns with those last seen. */
  learn(tables: readonly ReplicatedTable[]): void {
    for (const table of tables) {
      const current = new Map(table.columns.map((c) => [c.attnum, c.name]));
      const known = this.byTable.get(table.relid);
      if (!known) {
        this.byTable.set(table.relid, { last: current, earlier: new Map(), dropped: new Set() });
        continue;
      }
      for (const [attnum, before] of known.last) {
        const now = current.get(attnum);
        if (now === undefined) {
          known.dropped.add(before);
          for (const [name, latest] of known.earlier) if (latest === before) known.dropped.add(name);
          continue;
        }
        if (now === before) continue;
        for (const [name, latest] of known.earlier) if (latest === before) known.earlier.set(name, now);
        known.earlier.set(before, now);
      }
      known.last = current;
      // A name in use again is a column of today's: never taken for the dropped one.
      for (const name of current.values()) known.dropped.delete(name);
    }
  }

  /** Names of the table's columns dropped while this process ran (not in use again). */
  droppedNames(relid: number): ReadonlySet<string> {
    return this.byTable.get(relid)?.dropped ?? NONE;
  }

  /** The earlier names of a table's column (by its current name). */
  earlierNames(relid: number, column: string): string[] {
    const known = this.byTable.get(relid);
    if (!known) return [];
    return [...known.earlier].filter(([name, now]) => now === column && name !== column).map(([name]) => name);
  }
}

/**
 * Column renames this process has seen, by attribute number. The WAL names a
 * change's columns as they were when it was made; the model names them as
 * they are now. Every model the source is given is compared with the one
 * before it: an attribute that kept its number and changed its name was
 * renamed, so a change that still uses the earlier name belongs in the
 * column of the current name. Chains (a → b → c) resolve to the latest. A
 * replicator started after the rename never saw the earlier name: then the
 * change cannot be placed and is refused (transaction-assembler.ts).
 */
import type { ReplicatedTable } from '../../tables/table-model.js';

export class ColumnRenames {
  private byTable = new Map<number, { last: Map<number, string>; earlier: Map<string, string> }>();

  /** Compares each table's columns with those last seen. */
  learn(tables: readonly ReplicatedTable[]): void {
    for (const table of tables) {
      const current = new Map(table.columns.map((c) => [c.attnum, c.name]));
      const known = this.byTable.get(table.relid);
      if (!known) {
        this.byTable.set(table.relid, { last: current, earlier: new Map() });
        continue;
      }
      for (const [attnum, before] of known.last) {
        const now = current.get(attnum);
        if (now === undefined || now === before) continue;
        for (const [name, latest] of known.earlier) if (latest === before) known.earlier.set(name, now);
        known.earlier.set(before, now);
      }
      known.last = current;
    }
  }

  /** The earlier names of a table's column (by its current name). */
  earlierNames(relid: number, column: string): string[] {
    const known = this.byTable.get(relid);
    if (!known) return [];
    return [...known.earlier].filter(([name, now]) => now === column && name !== column).map(([name]) => name);
  }
}

/**
 * Shows the initial copy of tables as the running replicator makes it: a
 * progress bar on a terminal, a line per step otherwise. Reads the progress
 * the replicator commits on the replica, so it needs no API access.
 */

import { MultiBar, Presets } from 'cli-progress';
import type { Queryable } from '../db/database.js';
import type { QualifiedName } from '../db/quote.js';
import { displayName } from '../db/quote.js';
import { readCopyProgress } from '../initial-copy/copy-progress.js';

const START_TIMEOUT_MS = 15_000;

export async function followCopy(
  replica: Queryable,
  tables: readonly QualifiedName[],
  requestedAt: Map<QualifiedName, string>,
): Promise<boolean> {
  const tty = process.stdout.isTTY === true;
  const bars = tty
    ? new MultiBar(
        { format: ' {table} [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s', hideCursor: true },
        Presets.shades_classic,
      )
    : undefined;
  const started = Date.now();
  const pending = new Map(tables.map((t) => [t, { bar: undefined as ReturnType<MultiBar['create']> | undefined, last: -1 }]));
  try {
    while (pending.size > 0) {
      for (const [table, state] of pending) {
        const progress = await readCopyProgress(replica, table);
        if (!progress || progress.requestedAt !== requestedAt.get(table)) {
          if (Date.now() - started > START_TIMEOUT_MS) {
            bars?.stop();
            process.stdout.write(
              `no replicator has started copying ${displayName(table)} yet; it copies when \`replicator run\` runs (progress: replicator status)\n`,
            );
            return false;
          }
          continue;
        }
        const total = Math.max(progress.rowsEstimated ?? progress.rowsCopied, progress.rowsCopied, 1);
        const seconds = Math.max((Date.now() - started) / 1000, 0.001);
        const payload = { table: displayName(table), rate: Math.round(progress.rowsCopied / seconds) };
        if (bars) {
          state.bar ??= bars.create(total, 0, payload);
          state.bar.setTotal(progress.done ? progress.rowsCopied : total);
          state.bar.update(progress.rowsCopied, payload);
        } else if (progress.rowsCopied !== state.last) {
          process.stdout.write(
            `copying ${displayName(table)}: ${progress.rowsCopied} of ~${total} rows${progress.done ? ', done' : ''}\n`,
          );
        }
        state.last = progress.rowsCopied;
        if (progress.done) pending.delete(table);
      }
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 300));
    }
    return true;
  } finally {
    bars?.stop();
  }
}

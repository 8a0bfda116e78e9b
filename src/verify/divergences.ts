/**
 * What continuous verification has found in one table: the keys whose row is
 * confirmed to differ between primary and replica.
 *
 * A key enters only from a confirmation (confirmDifferences: still different
 * once the replica reached the primary position it was seen at, so never
 * replication lag), and leaves only when a later confirmation judges it the
 * same (it was repaired, or a later change on the primary rewrote it), or when
 * the table is resynced or leaves the replication set. A key that could not
 * be judged this time keeps its state. Memory is bounded: at most
 * KEPT_PER_TABLE keys are kept; when more differ, the table says so
 * (`truncated`) until a whole pass finds no more than that.
 */
import type { VerifyStatus, VerifyTableStatus } from '../replication/replication-status.js';
import type { DifferenceKind } from './confirm-differences.js';

export const KEPT_PER_TABLE = 1000;
/** Keys listed per table in /status and on the dashboard. */
export const LISTED_PER_TABLE = 20;
/** Keys (and tables) named in /health's reason. */
const NAMED_IN_HEALTH = 3;

export interface Divergence {
  key: string;
  kind: DifferenceKind;
  since: Date;
}

export interface Judgement {
  /** Newly confirmed keys. */
  added: Divergence[];
  /** Keys that were divergent and are now the same. */
  cleared: string[];
}

export class TableDivergences {
  private readonly byKey = new Map<string, Divergence>();
  private droppedThisPass = false;
  /** More keys differed than are kept (cleared by a pass that kept every one it found). */
  truncated = false;

  get size(): number {
    return this.byKey.size;
  }

  keys(): string[] {
    return [...this.byKey.keys()];
  }

  /**
   * One confirmation's outcome: every key of `judged` was looked at;
   * `differences` are confirmed, `unjudged` could not be settled (kept as
   * they were); the others are the same on both servers.
   */
  record(
    judged: Iterable<string>,
    differences: ReadonlyMap<string, DifferenceKind>,
    unjudged: ReadonlySet<string>,
    now = new Date(),
  ): Judgement {
    const outcome: Judgement = { added: [], cleared: [] };
    for (const key of judged) {
      if (unjudged.has(key)) continue;
      const kind = differences.get(key);
      const known = this.byKey.get(key);
      if (kind === undefined) {
        if (known && this.byKey.delete(key)) outcome.cleared.push(key);
      } else if (known) {
        known.kind = kind;
      } else if (this.byKey.size < KEPT_PER_TABLE) {
        const divergence = { key, kind, since: now };
        this.byKey.set(key, divergence);
        outcome.added.push(divergence);
      } else {
        this.droppedThisPass = true;
        this.truncated = true;
      }
    }
    return outcome;
  }

  /** A whole pass over the table ended. */
  endPass(): void {
    this.truncated = this.droppedThisPass;
    this.droppedThisPass = false;
  }

  /** The oldest first, then by key. */
  list(limit = LISTED_PER_TABLE): Divergence[] {
    return [...this.byKey.values()]
      .sort((a, b) => a.since.getTime() - b.since.getTime() || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, limit);
  }
}

/**
 * /health's "degraded" reason: the replica differs from the primary (tables
 * and keys named, bounded), or null. Divergence is not a reason to stop
 * routing to this replicator, so /health still answers 200 for it.
 */
export function degradedReason(verify: VerifyStatus | undefined): string | null {
  const diverged = (verify?.tables ?? []).filter((t) => t.divergent_rows > 0);
  if (diverged.length === 0) return null;
  const describe = (t: VerifyTableStatus) => {
    const rows = `${t.divergent_rows}${t.divergent_truncated ? '+' : ''} row${t.divergent_rows === 1 && !t.divergent_truncated ? '' : 's'}`;
    const keys = t.divergent.slice(0, NAMED_IN_HEALTH).map((d) => d.key);
    const more = t.divergent_rows > keys.length || t.divergent_truncated ? ', …' : '';
    return `${t.table} (${rows}: ${keys.join(', ')}${more})`;
  };
  const named = diverged.slice(0, NAMED_IN_HEALTH).map(describe);
  const others = diverged.length > NAMED_IN_HEALTH ? ` and ${diverged.length - NAMED_IN_HEALTH} more tables` : '';
  return `replica differs from primary: ${named.join('; ')}${others}; repair with replicator verify --repair`;
}

/**
 * Continuous verification inside `replicator run`: compares every replicated
 * table with the primary, slice by slice, forever, with the verify engine
 * (slices hashed on both servers, narrowed down to rows, each difference
 * confirmed once the replica reached the primary position it was seen at).
 *
 * What it keeps true:
 * - It only reads. It never repairs (that stays `replicator verify --repair`).
 * - A row is reported only once confirmDifferences has confirmed it, so
 *   replication lag is never reported; a reported row stops being reported
 *   once a later look finds it equal (repaired, or rewritten by the primary).
 * - Its work takes at most `share` of the wall time (Throttle): after each
 *   slice it pauses 1/share − 1 times as long as the slice took. It holds at
 *   most one query at a time on each server, on connections of its own
 *   (application_name "pg-replicator verify").
 * - Every table is walked in key order, one slice per table per round, from
 *   its first key to past its last; "last full pass" is when such a walk
 *   ended with every slice compared. Rows inserted or deleted meanwhile
 *   shift the slices, never open a gap between them.
 *
 * It waits while replication is not running (starting, failing, stopped):
 * differences cannot be confirmed while the replica does not catch up.
 */

import type { Logger } from 'pino';
import { Database, type DatabaseRole } from '../db/database.js';
import { displayName, type QualifiedName, quoteQualified } from '../db/quote.js';
import type { ReplicationStatus, VerifyStatus } from '../replication/replication-status.js';
import { type RegistryEntry, readRegistry } from '../tables/registry.js';
import { compareRange, DEFAULT_RANGES, type RangeSettings } from './compare-ranges.js';
import { type Confirmation, confirmDifferences } from './confirm-differences.js';
import { LISTED_PER_TABLE, TableDivergences } from './divergences.js';
import { Side } from './sides.js';
import type { TableSql } from './table-sql.js';
import { Throttle } from './throttle.js';
import { DEFAULT_ROUNDS, tableToCompare } from './verify.js';

export interface ContinuousVerifyOptions {
  /** VERIFY_SHARE: the most of the wall time its work may take, in (0, 1]. */
  share: number;
  /** Rows per slice (a first-level range). */
  sliceRows?: number;
  /** How long a confirmation waits for the replica to reach a primary position. */
  waitMs?: number;
  /** How often the replication state is looked at again while it is not running, or the set is empty. */
  idleMs?: number;
}

export interface VerifyConnections {
  primaryUrl: string;
  replicaUrl: string;
}

const SLICE_ROWS = 10_000;
/** Slice boundaries read at once. */
const BOUNDS_PER_READ = 16;
const CONFIRM_WAIT_MS = 30_000;
const IDLE_MS = 1_000;

interface TableState {
  entry: RegistryEntry;
  name: string;
  /** Described at the start of each pass (the table's columns may change between passes). */
  sql: TableSql | null;
  /** Upper bound of the last slice compared: the next one starts after it; null at the start of a pass. */
  cursor: string | null;
  /** Upper bounds of the next slices, read ahead. */
  bounds: string[];
  /** The last read of bounds reached the table's end: once `bounds` is used up, the slice is (cursor, end]. */
  atEnd: boolean;
  passRows: number;
  lastPassRows: number | null;
  lastFullPass: Date | null;
  fullPasses: number;
  divergences: TableDivergences;
  note: string | null;
}

/** The table as a shell argument for `replicator verify`: its display name, or its quoted name in single quotes when it needs quoting. */
function shellName(table: QualifiedName): string {
  const simple = (part: string) => /^[a-z_][a-z0-9_]*$/.test(part);
  if (simple(table.name) && simple(table.schema)) return displayName(table);
  return `'${quoteQualified(table).replaceAll("'", "'\\''")}'`;
}

export class ContinuousVerifier {
  private readonly primary: Side;
  private readonly replica: Side;
  private readonly throttle: Throttle;
  private readonly ranges: RangeSettings;
  private readonly tables = new Map<string, TableState>();
  private readonly startedAt = new Date();
  private stopping = false;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private done: Promise<void> | undefined;

  constructor(
    connections: VerifyConnections,
    private readonly status: ReplicationStatus,
    private readonly log: Logger,
    private readonly options: ContinuousVerifyOptions,
  ) {
    this.throttle = new Throttle(options.share);
    // One query at a time per server; the second connection only guards against a nested read.
    const db = (url: string, role: DatabaseRole) => new Database({ url, role, max: 2, purpose: 'verify' });
    this.primary = new Side(db(connections.primaryUrl, 'primary'));
    this.replica = new Side(db(connections.replicaUrl, 'replica'));
    this.ranges = { ...DEFAULT_RANGES, jobs: 1 };
  }

  start(): void {
    this.publish();
    this.done ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sleeper) {
      clearTimeout(this.sleeper.timer);
      this.sleeper.resolve();
    }
    await this.done;
    await Promise.all([this.primary.db.end(), this.replica.db.end()]);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.status.state !== 'running') {
        await this.idle();
        continue;
      }
      let entries: RegistryEntry[];
      try {
        entries = await this.primary.read((c) => readRegistry(c));
      } catch (error) {
        this.log.debug(
          { err: String((error as Error)?.message ?? error) },
          'continuous verify: reading the replication set failed',
        );
        await this.idle();
        continue;
      }
      this.forgetTablesNotIn(entries);
      if (entries.length === 0) {
        await this.idle();
        continue;
      }
      for (const entry of entries) {
        if (this.stopping || this.status.state !== 'running') break;
        // A failed slice (a server away, a table changing) waits at least a second before the next.
        if (await this.step(this.stateOf(entry))) await this.pause();
        else await this.idle();
      }
    }
  }

  private stateOf(entry: RegistryEntry): TableState {
    const name = displayName(entry.table);
    let state = this.tables.get(name);
    if (!state) {
      state = {
        entry,
        name,
        sql: null,
        cursor: null,
        bounds: [],
        atEnd: false,
        passRows: 0,
        lastPassRows: null,
        lastFullPass: null,
        fullPasses: 0,
        divergences: new TableDivergences(),
        note: null,
      };
      this.tables.set(name, state);
    } else if (state.entry.copyRequestedAt !== entry.copyRequestedAt) {
      // Resynced: the replica's table is being copied afresh; what was found no longer holds.
      this.restartPass(state);
      state.divergences = new TableDivergences();
      state.entry = entry;
    }
    return state;
  }

  private forgetTablesNotIn(entries: readonly RegistryEntry[]): void {
    const names = new Set(entries.map((e) => displayName(e.table)));
    for (const name of this.tables.keys()) if (!names.has(name)) this.tables.delete(name);
  }

  private restartPass(state: TableState): void {
    state.sql = null;
    state.cursor = null;
    state.bounds = [];
    state.atEnd = false;
    state.passRows = 0;
  }

  /** Compares the table's next slice and settles its candidates (with the keys already known to differ); false when it failed. */
  private async step(state: TableState): Promise<boolean> {
    try {
      if (!state.sql) {
        const prepared = await tableToCompare(this.primary, this.replica, state.entry);
        if (!('sql' in prepared)) {
          this.setNote(state, prepared.message);
          this.restartPass(state);
          return true;
        }
        state.sql = prepared.sql;
      }
      const sql = state.sql;
      if (state.bounds.length === 0 && !state.atEnd) {
        const q = sql.nextBounds(state.cursor, this.options.sliceRows ?? SLICE_ROWS, BOUNDS_PER_READ);
        state.bounds = await this.primary.read(async (c) =>
          (await c.query<{ key: string }>(q.text, q.values)).rows.map((r) => r.key),
        );
        state.atEnd = state.bounds.length < BOUNDS_PER_READ;
      }
      const hi = state.bounds.shift() ?? null;
      const compared = await compareRange(this.primary, this.replica, sql, { lo: state.cursor, hi }, this.ranges);
      const candidates = new Set([...compared.candidates, ...state.divergences.keys()]);
      const confirmed: Confirmation =
        candidates.size === 0
          ? { differences: new Map(), unconfirmed: [], rounds: 0 }
          : await confirmDifferences(this.primary, this.replica, sql, candidates, {
              waitMs: this.options.waitMs ?? CONFIRM_WAIT_MS,
              rounds: DEFAULT_ROUNDS,
            });
      if (confirmed.differences.size > 0 && (await this.resyncedOrRemoved(state))) return true;
      const judged = state.divergences.record(
        candidates,
        confirmed.differences,
        new Set(confirmed.unconfirmed.map((u) => u.key)),
      );
      for (const d of judged.added) {
        this.log.warn(
          { table: state.name, key: d.key, kind: d.kind },
          `replica differs from primary: ${state.name} ${d.key} (${d.kind === 'different' ? 'different' : `${d.kind} on the replica`}); repair with: replicator verify --repair ${shellName(state.entry.table)}`,
        );
      }
      for (const key of judged.cleared) {
        this.log.info({ table: state.name, key }, `replica equals primary again: ${state.name} ${key}`);
      }
      this.setNote(state, null);
      state.passRows += compared.primaryRows;
      state.cursor = hi;
      if (hi === null) {
        state.lastFullPass = new Date();
        state.lastPassRows = state.passRows;
        state.fullPasses++;
        state.divergences.endPass();
        this.restartPass(state);
      }
      return true;
    } catch (error) {
      if (this.stopping) return true;
      this.setNote(state, `not compared: ${String((error as Error)?.message ?? error)}`);
      this.restartPass(state);
      return false;
    }
  }

  /** Whether the table was resynced or left the replication set while it was compared (its differences are then the copy's progress). */
  private async resyncedOrRemoved(state: TableState): Promise<boolean> {
    const now = (await this.primary.read((c) => readRegistry(c))).find(
      (t) => t.table.schema === state.entry.table.schema && t.table.name === state.entry.table.name,
    );
    if (now?.copyRequestedAt === state.entry.copyRequestedAt) return false;
    this.restartPass(state);
    return true;
  }

  private setNote(state: TableState, note: string | null): void {
    if (note !== null && note !== state.note) this.log.warn({ table: state.name }, `continuous verify: ${state.name}: ${note}`);
    state.note = note;
  }

  private publish(): void {
    const status: VerifyStatus = {
      share: this.options.share,
      work_seconds: Math.round(this.throttle.workMs) / 1000,
      started_at: this.startedAt.toISOString(),
      tables: [...this.tables.values()]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map((t) => ({
          table: t.name,
          divergent_rows: t.divergences.size,
          divergent_truncated: t.divergences.truncated,
          divergent: t.divergences
            .list(LISTED_PER_TABLE)
            .map((d) => ({ key: d.key, kind: d.kind, since: d.since.toISOString() })),
          last_full_pass: t.lastFullPass?.toISOString() ?? null,
          full_passes: t.fullPasses,
          pass_rows: t.passRows,
          last_pass_rows: t.lastPassRows,
          note: t.note,
        })),
    };
    this.status.verify = status;
  }

  /** The throttle's pause after a stretch of work (what it found is published first, with the work it took). */
  private async pause(): Promise<void> {
    const owed = this.throttle.endWork();
    this.publish();
    await this.sleep(owed);
    this.throttle.resume();
  }

  /** Nothing to do for now: wait without counting it as work. */
  private async idle(): Promise<void> {
    const owed = this.throttle.endWork();
    this.publish();
    await this.sleep(Math.max(owed, this.options.idleMs ?? IDLE_MS));
    this.throttle.resume();
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeper = undefined;
        resolve();
      }, ms);
      this.sleeper = { timer, resolve };
    });
  }
}

/**
 * The WAL source: batches from a logical slot streamed with pgoutput.
 *
 * - recovered(): (re)starts the stream from the replica's position (the
 *   slot's confirmed flush when the replica holds no logical position), after
 *   checking the publication holds the replication set and the slot is sound.
 *   A failure on the replica's side (it refused a batch, or is away) offers
 *   the same transactions again on the same stream; any other failure closes
 *   the stream at once (its walsender exits, so a primary shutting down is
 *   not held up) and restarts it from the replica's position, so whatever
 *   was received and not committed on the replica is simply read again;
 *   transactions ending at or below that position are skipped.
 * - next(): whole transactions in commit order, up to BATCH_SIZE changes and
 *   BATCH_BYTES of row text (one larger transaction alone), as one Batch for
 *   the shared apply. One memory budget, BATCH_BYTES, covers the open
 *   transaction (its lines and sets of keys) and the finished ones waiting
 *   for the apply together (the batch being applied is not counted): past
 *   it, the open transaction's lines go to disk, and so do the newest waiting
 *   ones (the oldest, applied first, stay in memory); a table's lines past
 *   BATCH_SIZE in one transaction go to disk at once (they are never applied
 *   inline). With initial copies pending, once every transaction older than
 *   the stream has ended (copy-horizon.ts; batches go on until then): a
 *   chunk of each is read in a REPEATABLE READ snapshot, then a
 *   non-transactional watermark is written to the WAL, and the batch is every
 *   transaction before the watermark plus the chunks applied first: each
 *   table's rows as of the snapshot, and on top every change up to the
 *   watermark (each key's last state), which is exactly the primary at the
 *   watermark. The position moves there.
 * - committed() / housekeeping(): the replica commits without waiting for
 *   its WAL flush (as PostgreSQL's apply worker does), so a batch's end LSN
 *   is confirmed to the slot only once the replica's WAL is flushed past
 *   that commit (checked in the background, apply/replica-flushed.ts): a
 *   crash of the replica that loses its last commits finds them still in the
 *   slot. While idle (nothing received, everything committed confirmed), a
 *   primary keepalive's position is confirmed too, so an idle set does not
 *   pin WAL.
 * - Idle, the replica's position moves too (a batch of no rows, at most
 *   once per IDLE_MOVE_MS): to the last keepalive received between
 *   transactions, before which every transaction was sent, and with nothing
 *   received since, every one of ours is on the replica. So "the replica
 *   holds every transaction ending at or below its LSN" stays true, and the
 *   LSN reaches any point of the primary's WAL soon after it is written
 *   (verify waits for that: verify/confirm-differences.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { checkReplicaIdentity } from '../../capture/check-replica-identity.js';
import { PUBLICATION, publicationMatches, syncPublication } from '../../capture/publication.js';
import type { Database } from '../../db/database.js';
import { lockBeforeSnapshot } from '../../db/lock-before-snapshot.js';
import { displayName } from '../../db/quote.js';
import { SET_LOCAL } from '../../db/session-settings.js';
import { ReplicatorError } from '../../errors.js';
import { estimateRows, planCopyChunk } from '../../initial-copy/copy-chunk.js';
import type { RegistryEntry } from '../../tables/registry.js';
import type { ReplicatedTable, TableDescription } from '../../tables/table-model.js';
import type { Batch, CopyChunk } from '../batch.js';
import type { ReplicaPosition } from '../position.js';
import type { NextBatch, PreparedTables, Source } from '../source.js';
import { pruneChangeLog } from '../trigger/prune-change-log.js';
import { checkLogicalTable } from './check-logical-table.js';
import { ColumnRenames } from './column-renames.js';
import { CopyHorizon } from './copy-horizon.js';
import { discardTransactions, logicalBatch } from './logical-batch.js';
import { formatLsn, type Lsn, maxLsn, parseLsn } from './lsn.js';
import { resolvePartitionTruncates } from './partition-truncates.js';
import { ReplicationStream } from './replication-stream.js';
import { createSlot, dropSlot, readSlot, SlotLostError, waitForSlotRelease } from './slot.js';
import { type PartitionTruncate, type Transaction, TransactionAssembler } from './transaction-assembler.js';

export interface LogicalSourceOptions {
  slot: string;
  limits: { rows: number; bytes: number };
  copyChunkRows: number;
  /** How often the schema fingerprint is read while streaming, and the longest idle wait. */
  pollIntervalMs: number;
  statusIntervalMs: number;
  retentionMs: number;
  pruneIntervalMs: number;
}

const FINGERPRINT = 'SELECT f.fingerprint FROM replicator.schema_fingerprint f';
const SLOT_CHECK_MS = 5000;
/** How long a restart waits for the previous stream's walsender to let the slot go. */
const SLOT_RELEASE_WAIT_MS = 5000;
/** The shortest time between two moves of an idle replica's position. */
const IDLE_MOVE_MS = 1000;
/** How long an initial copy's snapshot waits for its watermark before a warning. */
const WATERMARK_WARN_MS = 10_000;
/** Waiting transactions spooled to disk, in BATCH_BYTES, before the stream is paused. */
const SPOOL_BUDGETS = 64;

export class LogicalSource implements Source {
  readonly mode = 'logical' as const;
  private stream: ReplicationStream | undefined;
  private assembler: TransactionAssembler | undefined;
  private ready: Transaction[] = [];
  private readyBytes = 0;
  private readyMemory = 0;
  private paused = false;
  /** The transactions of the batch last handed out, until the replica commits it (or they are offered again). */
  private inflight: Transaction[] | undefined;
  /** A batch is out: handed to the apply, not yet committed or given back. */
  private get outstanding(): boolean {
    return this.inflight !== undefined;
  }
  /** The stream was let go after a failure: the next next() starts it again from the replica's position. */
  private restartNeeded = false;
  /** The highest end LSN the replica committed (or held at start), and the highest known on its disk and confirmed. */
  private committedLsn: Lsn = 0n;
  private durableLsn: Lsn = 0n;
  private durabilityCheck: Promise<void> | undefined;
  /** The round of housekeeping chores in flight. */
  private chores: Promise<void> | undefined;
  /** The last keepalive received between transactions: every transaction ending at or below it was sent before it. */
  private keepaliveLsn: Lsn = 0n;
  private lastIdleMove = 0;
  private failure: Error | undefined;
  private relationChanged = false;
  /** recovered() found the replication set changed since it was prepared: the next next() says so, and nothing streams meanwhile. */
  private setChanged = false;
  /** Partitioned tables whose relation message came (again): their partitions' replica identities are checked before their changes are used. */
  private readonly identityRecheck = new Set<ReplicatedTable>();
  private lastFingerprint = 0;
  /** The periodic fingerprint look in flight, and what it read (checked, then cleared, by the next next()). */
  private fingerprintPoll: Promise<void> | undefined;
  private polledFingerprint: string | undefined;
  private pollGeneration = 0;
  private readonly horizon: CopyHorizon;
  private watermark: { token: string; resolve: (count: number) => void; reject: (e: Error) => void } | undefined;
  private waiter: (() => void) | undefined;
  private lastPrune = 0;
  private lastSlotCheck = 0;
  private readonly renames = new ColumnRenames();
  /**
   * Changes received from the slot that the replica does not hold yet: the
   * open transaction's, those waiting and the batch being applied. (WAL not
   * yet decoded is not counted: retainedBytes tells that.)
   */
  get backlog(): number {
    let changes = this.assembler?.openChanges ?? 0;
    for (const tx of this.ready) changes += tx.changes;
    for (const tx of this.inflight ?? []) changes += tx.changes;
    return changes;
  }

  /** Bytes of WAL the slot retains (pg_current_wal_lsn() - confirmed_flush_lsn), as last read. */
  retainedBytes: number | null = null;

  constructor(
    private readonly primary: Database,
    private readonly options: LogicalSourceOptions,
    private readonly log: Logger,
  ) {
    this.horizon = new CopyHorizon(primary, log);
  }

  checkTable(entry: RegistryEntry, description: TableDescription | null): Promise<void> {
    return checkLogicalTable(this.primary, entry, description);
  }

  async recovered(prepared: PreparedTables, position: ReplicaPosition): Promise<void> {
    await this.stopStream();
    this.restartNeeded = false;
    this.setChanged = false;
    this.renames.learn(prepared.tables);
    const tables = prepared.tables.map((t) => t.table);
    if (tables.length > 0 && !(await publicationMatches(this.primary, tables))) {
      // The owner's add or remove changes the set and the publication in one
      // transaction: a publication read after the set may hold that change.
      // Read the set again rather than undo it (or fail: this login may not own the publication).
      const { rows: now } = await this.primary.query<{ fingerprint: string }>(FINGERPRINT);
      if (now[0]?.fingerprint !== prepared.fingerprint) {
        this.setChanged = true;
        return;
      }
      await syncPublication(this.primary, tables, { create: true });
      this.log.info({ publication: PUBLICATION, tables: tables.map(displayName) }, 'publication updated to the replication set');
    }
    // Every transaction committed below this position is visible in the
    // horizon, or still in progress in it: the copies' snapshots come after
    // it (the assembler's `supersededBelow`).
    const { rows: wal } = await this.primary.query<{ l: string }>('SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS l');
    const supersededBelow = parseLsn((wal[0] as { l: string }).l);
    // Transactions in progress now may have written before the publication
    // held their table: a copy's snapshot must come after all of them.
    const { rows } = await this.primary.query<{ s: string }>('SELECT pg_catalog.pg_current_snapshot()::text AS s');
    this.horizon.reset(rows[0]?.s ?? null);

    const slot = this.options.slot;
    const logical = position.source?.mode === 'logical' && position.lsn !== null;
    if (prepared.tables.length === 0) {
      if (await dropSlot(this.primary, slot)) this.log.info({ slot }, 'replication set is empty: dropped the slot');
      return;
    }
    const state = await waitForSlotRelease(this.primary, slot, SLOT_RELEASE_WAIT_MS);
    const everyCopyFresh = prepared.tables.every((t) => prepared.copies.get(t)?.fresh === true);
    // Without a logical position every table is copied afresh: an old slot would only replay history.
    if (!state.exists || state.lost || (!logical && everyCopyFresh)) {
      if (logical && !everyCopyFresh) throw new SlotLostError(slot, state.lost ? 'was invalidated by the server' : 'is missing');
      if (state.exists) await dropSlot(this.primary, slot);
      await createSlot(this.primary, slot);
      this.log.info({ slot }, `created logical replication slot ${slot} (pgoutput)`);
    }
    const start: Lsn = logical ? parseLsn(position.lsn as string) : 0n;
    // What the replica holds may not be on its disk yet: confirmed once it is.
    this.committedLsn = start;
    this.durableLsn = 0n;
    const fresh = new Set([...prepared.copies].filter(([, copy]) => copy.fresh).map(([table]) => table));
    this.startStream(prepared.tables, start, fresh, supersededBelow);
  }

  private startStream(
    tables: readonly ReplicatedTable[],
    start: Lsn,
    fresh: ReadonlySet<ReplicatedTable>,
    supersededBelow: Lsn,
  ): void {
    this.failure = undefined;
    this.relationChanged = false;
    this.identityRecheck.clear();
    this.keepaliveLsn = 0n;
    const byRelid = new Map(tables.map((t) => [t.relid, t]));
    const assembler = new TransactionAssembler(
      byRelid,
      start,
      (tx) => this.onTransaction(tx),
      (table) => {
        this.relationChanged = true;
        if (table.partitioned) this.identityRecheck.add(table);
      },
      (token) => {
        if (this.watermark?.token === token) this.watermark.resolve(this.ready.length);
      },
      // What the waiting transactions leave of the one budget.
      () => Math.max(0, this.options.limits.bytes - this.readyMemory),
      fresh,
      supersededBelow,
      (relid, column) => this.renames.earlierNames(relid, column),
      this.options.limits.rows,
      (relid) => this.renames.droppedNames(relid),
    );
    this.assembler = assembler;
    const starting = ReplicationStream.start(
      {
        connect: () => this.primary.dedicated('logical', { replication: true }),
        slot: this.options.slot,
        publication: PUBLICATION,
        start,
        statusIntervalMs: this.options.statusIntervalMs,
      },
      {
        onMessage: (message) => {
          if (this.assembler !== assembler) return;
          try {
            assembler.handle(message);
          } catch (error) {
            this.fail(error as Error);
          }
        },
        onKeepalive: (walEnd) => {
          if (this.assembler === assembler && !assembler.inTransaction) this.keepaliveLsn = maxLsn(this.keepaliveLsn, walEnd);
          // Idle: every transaction before walEnd was sent and is committed on the replica (or was not ours).
          if (
            this.assembler === assembler &&
            !assembler.inTransaction &&
            this.ready.length === 0 &&
            !this.outstanding &&
            this.committedLsn <= this.durableLsn
          ) {
            this.stream?.confirm(walEnd);
          }
        },
        onClose: (error) => {
          if (this.assembler === assembler) this.fail(error ?? new Error('the replication stream ended'));
        },
      },
    );
    this.streamStarting = starting.then(
      (stream) => {
        if (this.assembler === assembler) this.stream = stream;
        else void stream.close();
      },
      (error) => this.fail(error as Error),
    );
  }

  private streamStarting: Promise<void> = Promise.resolve();

  private fail(error: Error): void {
    this.failure ??= error;
    this.watermark?.reject(error);
    this.waiter?.();
  }

  private onTransaction(tx: Transaction): void {
    this.ready.push(tx);
    this.readyBytes += tx.bytes;
    for (const c of tx.tables.values()) this.readyMemory += c.lines.memory;
    // Past the memory budget, the newest waiting transactions go to disk: the
    // stream keeps being read (keepalives answered, a primary shutdown not held up) ...
    for (let i = this.ready.length - 1; i >= 0 && this.readyMemory > this.options.limits.bytes; i--) {
      for (const c of (this.ready[i] as Transaction).tables.values()) {
        this.readyMemory -= c.lines.memory;
        c.lines.spill();
      }
    }
    // ... and only past the disk budget is it paused (status updates go on).
    if (this.readyBytes > this.spoolLimit() && !this.watermark && !this.paused) {
      this.paused = true;
      this.stream?.pause();
    }
    this.waiter?.();
  }

  private spoolLimit(): number {
    return this.options.limits.bytes * SPOOL_BUDGETS;
  }

  private resumeIfRoom(): void {
    if (this.paused && (this.readyBytes <= this.spoolLimit() || this.watermark)) {
      this.paused = false;
      this.stream?.resume();
    }
  }

  private async stopStream(): Promise<void> {
    this.assembler?.discard();
    this.assembler = undefined;
    await this.streamStarting;
    await this.stream?.close();
    this.stream = undefined;
    discardTransactions(this.ready);
    discardTransactions(this.inflight ?? []);
    this.inflight = undefined;
    this.ready = [];
    this.readyBytes = 0;
    this.readyMemory = 0;
    this.paused = false;
    this.watermark?.reject(new Error('the replication stream was stopped'));
    this.watermark = undefined;
  }

  private check(): void {
    if (this.failure) {
      const error = this.failure;
      throw error instanceof ReplicatorError ? error : this.primary.classify(error);
    }
  }

  async next(prepared: PreparedTables, from: ReplicaPosition): Promise<NextBatch> {
    await this.streamStarting;
    if (this.setChanged) {
      this.setChanged = false;
      return 'schema-changed';
    }
    if (this.restartNeeded) {
      await this.recovered(prepared, from);
      return { empty: true, snapshot: '' };
    }
    this.check();
    if (this.relationChanged) {
      if (await this.relationsDiffer(prepared)) return 'schema-changed';
    } else if (Date.now() - this.lastFingerprint >= Math.min(this.options.pollIntervalMs, 1000)) {
      // The periodic look (the replication set, DDL with no row changed yet)
      // runs beside the batches rather than before one, so no batch waits a
      // round trip to the primary for it; it is seen by the next call (one
      // round trip later than before, when it was already up to a poll
      // interval late), or wakes the idle loop when it differs.
      this.lastFingerprint = Date.now();
      const generation = this.pollGeneration;
      const expected = prepared.fingerprint;
      this.fingerprintPoll ??= this.primary
        .query<{ fingerprint: string }>(FINGERPRINT)
        .then(({ rows }) => {
          // Read before a newer look (or a new preparation): stale, dropped.
          if (generation !== this.pollGeneration) return;
          this.polledFingerprint = rows[0]?.fingerprint;
          if (this.polledFingerprint !== expected) this.waiter?.();
        })
        .catch(() => {})
        .finally(() => {
          this.fingerprintPoll = undefined;
        });
    }
    if (this.polledFingerprint !== undefined) {
      const polled = this.polledFingerprint;
      this.polledFingerprint = undefined;
      if (polled !== prepared.fingerprint) {
        this.pollGeneration++;
        return 'schema-changed';
      }
    }
    // An empty replication set streams nothing (its slot is dropped).
    if (!this.assembler) return { empty: true, snapshot: '' };
    // A copy waiting for older transactions to end (copy-horizon.ts) holds no batch meanwhile.
    if (prepared.copies.size > 0 && (await this.horizon.passed())) return this.nextWithCopies(prepared, from);
    if (this.ready.length === 0) return this.idleMove(from) ?? { empty: true, snapshot: '' };
    const taken: Transaction[] = [];
    let bytes = 0;
    let changes = 0;
    while (this.ready.length > 0) {
      const tx = this.ready[0] as Transaction;
      if (taken.length > 0 && (bytes + tx.bytes > this.options.limits.bytes || changes + tx.changes > this.options.limits.rows))
        break;
      taken.push(this.ready.shift() as Transaction);
      bytes += tx.bytes;
      changes += tx.changes;
    }
    this.readyBytes -= bytes;
    for (const tx of taken) for (const c of tx.tables.values()) this.readyMemory -= c.lines.memory;
    this.readyMemory = Math.max(0, this.readyMemory);
    this.resumeIfRoom();
    this.inflight = taken;
    try {
      const clears = await this.partitionClears(taken);
      return { batch: logicalBatch(from, taken, [], 0n, clears, this.options.limits), release: async () => {} };
    } catch (error) {
      throw this.primary.classify(error);
    }
  }

  /** Nothing waiting: the replica's position moves to the last keepalive past it (see the module comment). */
  private idleMove(from: ReplicaPosition): NextBatch | null {
    const held = maxLsn(this.committedLsn, from.lsn ? parseLsn(from.lsn) : 0n);
    if (this.keepaliveLsn <= held || this.assembler?.inTransaction || Date.now() - this.lastIdleMove < IDLE_MOVE_MS) return null;
    this.lastIdleMove = Date.now();
    this.inflight = [];
    return { batch: logicalBatch(from, [], [], this.keepaliveLsn), release: async () => {} };
  }

  /**
   * A table's columns changed in the stream (a relation message unlike its
   * model): whether the schema differs from the one prepared. Checked before
   * any transaction received since is taken into a batch (its lines were
   * shaped by the model).
   */
  private async relationsDiffer(prepared: PreparedTables): Promise<boolean> {
    this.relationChanged = false;
    this.lastFingerprint = Date.now();
    this.polledFingerprint = undefined;
    this.pollGeneration++;
    // A partition's identity may have changed (a root's relation message does not show it).
    const recheck = [...this.identityRecheck];
    this.identityRecheck.clear();
    for (const t of recheck) await checkReplicaIdentity(this.primary, t.table, t.relid, t.keyColumns, true);
    const { rows } = await this.primary.query<{ fingerprint: string }>(FINGERPRINT);
    return rows[0]?.fingerprint !== prepared.fingerprint;
  }

  /**
   * The rows each TRUNCATE of a partition in `taken` removed. Where they
   * cannot be known, the table is copied afresh (requested now, so the copy's
   * snapshots come after the TRUNCATE; the batch then clears nothing for it).
   */
  private async partitionClears(taken: readonly Transaction[]): Promise<Map<PartitionTruncate, string | null>> {
    const clears = await resolvePartitionTruncates(this.primary, taken);
    const unknown = new Set<ReplicatedTable>();
    for (const tx of taken) {
      for (const [table, changes] of tx.tables) if (changes.partitions.some((t) => clears.get(t) === null)) unknown.add(table);
    }
    for (const table of unknown) {
      this.log.info(
        { table: displayName(table.table) },
        'a TRUNCATE of a partition whose rows cannot be told apart on the replica (hash partitioning, detached or dropped since, or not confirmed by the change log): copying the table',
      );
      await this.primary.query('SELECT replicator.request_copy($1, $2)', [table.table.schema, table.table.name]);
    }
    return clears;
  }

  /** Copy chunks in a snapshot, then every transaction up to a watermark written after it (see the module comment). */
  private async nextWithCopies(prepared: PreparedTables, from: ReplicaPosition): Promise<NextBatch> {
    // The stream may have failed meanwhile: no snapshot is held for a watermark it cannot carry.
    this.check();
    const client = await this.primary.on(this.primary.pool.connect());
    let failed = false;
    const release = async () => {
      await client.query('COMMIT').catch(() => {});
      client.release(failed);
    };
    let taken: Transaction[] = [];
    try {
      const lock = lockBeforeSnapshot([...prepared.copies.keys()].map((t) => t.table));
      await client.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${SET_LOCAL}${lock ? `; ${lock}` : ''}`);
      // The chunks are read with the prepared models: only if the snapshot's schema is the one they were made from.
      const { rows: schema } = await client.query<{ fingerprint: string }>(FINGERPRINT);
      if (schema[0]?.fingerprint !== prepared.fingerprint) {
        await release();
        return 'schema-changed';
      }
      const copies: CopyChunk[] = [];
      for (const [table, copy] of prepared.copies) {
        const progress = copy.fresh ? { ...copy.progress, rowsEstimated: await estimateRows(client, table) } : copy.progress;
        copies.push(await planCopyChunk(client, table, progress, copy.fresh, this.options.copyChunkRows));
      }
      // The snapshot is taken: now the watermark, after every transaction it sees.
      const token = randomUUID();
      const reached = this.awaitWatermark(token);
      this.resumeIfRoom();
      const { rows } = await this.primary.query<{ lsn: string }>(
        "SELECT pg_catalog.pg_logical_emit_message(false, 'pg-replicator', $1::text)::text AS lsn",
        [token],
      );
      const count = await this.slowWatermark(reached, rows[0]?.lsn as string).finally(() => {
        this.watermark = undefined;
      });
      // A relation message arrived while waiting: the schema is checked before these transactions are used.
      if (this.relationChanged && (await this.relationsDiffer(prepared))) {
        await release();
        return 'schema-changed';
      }
      taken = this.ready.splice(0, count);
      for (const tx of taken) this.readyBytes -= tx.bytes;
      this.readyMemory = 0;
      for (const tx of this.ready) for (const c of tx.tables.values()) this.readyMemory += c.lines.memory;
      this.inflight = taken;
      const clears = await this.partitionClears(taken);
      return { batch: logicalBatch(from, taken, copies, parseLsn(rows[0]?.lsn as string), clears), release };
    } catch (error) {
      failed = true;
      discardTransactions(taken);
      if (this.inflight === taken) this.inflight = undefined;
      await release();
      throw this.primary.classify(error);
    }
  }

  /**
   * The watermark `token`, once the stream carries it: how many transactions
   * came before it. Rejected by any failure of the stream, one that came
   * before this wait included (a snapshot held for a stream that is gone
   * would hold the copied tables' locks until the process ends).
   */
  private awaitWatermark(token: string): Promise<number> {
    const reached = new Promise<number>((resolve, reject) => {
      this.watermark = { token, resolve, reject };
      if (this.failure) reject(this.failure);
      else if (!this.assembler) reject(new Error('the replication stream was stopped'));
    });
    // Awaited only after the watermark is written: a failure meanwhile is not an unhandled rejection.
    reached.catch(() => {});
    return reached;
  }

  /** Says so, once, when the watermark takes long (the stream decodes the WAL before it first: a backlog takes its time). */
  private slowWatermark(reached: Promise<number>, lsn: string): Promise<number> {
    const timer = setTimeout(() => {
      this.log.warn(
        { watermark_lsn: lsn, received_lsn: formatLsn(this.stream?.receivedLsn ?? 0n), paused: this.paused },
        `an initial copy's snapshot has waited ${WATERMARK_WARN_MS / 1000} s for its watermark to come through the stream (DDL on the tables being copied waits for it meanwhile)`,
      );
    }, WATERMARK_WARN_MS);
    return reached.finally(() => clearTimeout(timer));
  }

  busy(): void {}

  /**
   * The replica refused a batch or was away: the stream is sound, and the
   * batch's transactions are offered again (keepalives go on being answered
   * meanwhile). Anything else (the primary, the stream, a bug): the stream is
   * closed at once, so its walsender exits (a primary shutting down waits for
   * it otherwise), and started again from the replica's position.
   */
  async failed(error: unknown): Promise<void> {
    if (error instanceof ReplicatorError && error.database === 'replica' && !this.failure) {
      this.offerAgain();
      return;
    }
    await this.stopStream();
    this.restartNeeded = true;
  }

  private offerAgain(): void {
    const again = this.inflight ?? [];
    this.inflight = undefined;
    this.ready.unshift(...again);
    for (const tx of again) {
      this.readyBytes += tx.bytes;
      for (const c of tx.tables.values()) this.readyMemory += c.lines.memory;
    }
  }

  async wait(_snapshot: string): Promise<void> {
    if (this.ready.length > 0 || this.failure) return;
    await new Promise<void>((resolve) => {
      // A copy waiting for older transactions looks again when its delay is up.
      const horizon = this.horizon.msToNextLook ?? Number.POSITIVE_INFINITY;
      const timer = setTimeout(done, Math.min(this.options.pollIntervalMs, 1000, horizon));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiter = () => {
        this.waiter = undefined;
        done();
      };
    });
  }

  committed(_prepared: PreparedTables, _from: ReplicaPosition, batch: Batch): void {
    discardTransactions(this.inflight ?? []);
    this.inflight = undefined;
    if (batch.to.lsn !== null) this.committedLsn = maxLsn(this.committedLsn, parseLsn(batch.to.lsn));
  }

  /** In the background: once the replica's commits up to now are on its disk, confirm them to the slot. */
  private confirmDurable(replicaDurable: () => Promise<boolean>): void {
    if (this.durabilityCheck || this.committedLsn <= this.durableLsn) return;
    const target = this.committedLsn;
    this.durabilityCheck = replicaDurable()
      .then((durable) => {
        if (!durable) return;
        this.durableLsn = maxLsn(this.durableLsn, target);
        this.stream?.confirm(target);
      })
      .catch(() => {})
      .finally(() => {
        this.durabilityCheck = undefined;
      });
  }

  /**
   * The periodic chores (the slot's state, pruning what trigger capture left
   * in the change logs) run in the background, one round at a time, so no
   * batch waits on them; a slot the server invalidated fails the stream.
   */
  async housekeeping(
    prepared: PreparedTables,
    _position: ReplicaPosition,
    replicaDurable: () => Promise<boolean>,
  ): Promise<void> {
    this.confirmDurable(replicaDurable);
    if (this.chores) return;
    const now = Date.now();
    const slotDue = now - this.lastSlotCheck >= SLOT_CHECK_MS;
    const pruneDue = now - this.lastPrune >= this.options.pruneIntervalMs;
    if (!slotDue && !pruneDue) return;
    if (slotDue) this.lastSlotCheck = now;
    if (pruneDue) this.lastPrune = now;
    const assembler = this.assembler;
    this.chores = (async () => {
      if (slotDue) {
        const state = await readSlot(this.primary, this.options.slot);
        this.retainedBytes = state.retainedBytes;
        if (state.lost && this.assembler === assembler) {
          this.fail(new SlotLostError(this.options.slot, 'was invalidated by the server'));
          return;
        }
      }
      if (pruneDue) {
        const { rows } = await this.primary.query<{ s: string }>('SELECT pg_catalog.pg_current_snapshot()::text AS s');
        for (const table of prepared.tables) {
          await pruneChangeLog(this.primary, table, this.options.retentionMs, rows[0]?.s as string);
        }
      }
    })()
      // A failed look is made again at its next turn; the batches meet the same primary.
      .catch(() => {})
      .finally(() => {
        this.chores = undefined;
      });
  }

  wake(): void {
    this.waiter?.();
  }

  async stop(): Promise<void> {
    this.wake();
    await this.durabilityCheck;
    await this.chores;
    await this.stopStream();
  }
}

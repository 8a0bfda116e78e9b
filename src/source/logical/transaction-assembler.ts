/**
 * Turns pgoutput messages into whole primary transactions, in commit order,
 * each as COPY lines per replicated table: a line per change, numbered in
 * the order the primary made them (the replica keeps each key's last line,
 * so a key changed twice ends as the primary left it). A row that lost its
 * old key (a key update) leaves a delete line for the old key first. A
 * TRUNCATE drops the table's earlier lines and marks the table cleared. A
 * TRUNCATE naming a partition (the capture's transactional message, which
 * pgoutput sends where the TRUNCATE happened; partitions' rows arrive as
 * their root's) takes the next number: the lines before it whose row lies in
 * that partition are dropped on the replica, never the ones after it
 * (logical-batch.ts, partition-truncates.ts). Such a message is only a claim
 * until the change log confirms it.
 *
 * Transactions that end at or below `skipThrough` (the replica already holds
 * them) are dropped; so are changes of tables outside the replication set.
 * Values are the primary's text, never parsed. A line is one flat string
 * (built with join: a template literal would leave a tree of pieces several
 * times the line's size), or, when it holds a large value (pgoutput.ts),
 * written to the spool as it is escaped, never whole in memory
 * (line-spool.ts). An UPDATE whose new row
 * leaves a TOASTed value out (unchanged) takes it from the old row when the
 * table sends it (REPLICA IDENTITY FULL); otherwise the line names the
 * column as unchanged and the replica fills it in from the key's earlier
 * line or its own row (apply/table-statements.ts, resolveUnchanged), never
 * a guess.
 *
 * The WAL says which row an UPDATE or DELETE touched only through the
 * table's replica identity, which must be its key
 * (capture/check-replica-identity.ts): a relation message showing another
 * identity (changed since the replicator checked it), or an old row without
 * its key (a partition's identity changed: its relation message is its
 * root's), stops the stream with the fix rather than apply a change to the
 * wrong row or to none; for a table being copied afresh from the stream's
 * start, such changes committed before the copy's first snapshot are
 * superseded by the copy and dropped (the same holds for changes made
 * before a column rename that cannot be placed). A partitioned
 * table's relation message is passed on (onRelationChange) so the caller
 * checks its partitions' identities before using what follows.
 *
 * Where a key's text is its equality (tables/key-text-canonical.ts), each
 * table also notes whether its lines name every key at most once, as long
 * as the set of keys seen fits the memory budget (beyond it: unknown, so
 * not distinct).
 *
 * Memory: the open transaction's lines held in memory and its sets of keys
 * together stay within `memoryBudget()` (the caller's budget less what it
 * holds itself): past it, every table's lines go to disk, and a set of keys
 * that alone passes it is given up. A table's lines go to disk too once
 * they are more than `inlineLines` (such a share is never applied inline,
 * logical-batch.ts, so holding them in memory gains nothing).
 */

import { arrayLiteral } from '../../db/array-literal.js';
import { displayName } from '../../db/quote.js';
import { ReplicatorError } from '../../errors.js';
import { keyTextIsCanonical } from '../../tables/key-text-canonical.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import type { ChangeCounts } from '../batch.js';
import { copyBytes, copyValue } from './copy-text.js';
import { LineSpool } from './line-spool.js';
import type { Lsn } from './lsn.js';
import { isUnchanged, type PgOutputMessage, type RelationColumn, type TupleValue } from './pgoutput.js';

/** The capture's message for a TRUNCATE that named a partition (db/migrations/004). */
export const TRUNCATE_MESSAGE_PREFIX = 'pg-replicator-truncate';

/** A TRUNCATE of one partition (at any level), as the stream claimed it. */
export interface PartitionTruncate {
  partition: number;
  /** The change log's entry the capture wrote for it, by transaction `xid`: what makes the claim true. */
  changeId: string;
  xid: number;
  /** Lines numbered below it came before it. */
  seq: number;
}

export interface TableChanges {
  table: ReplicatedTable;
  /** A TRUNCATE of the table in this transaction: the lines are what came after it. */
  truncated: boolean;
  /** TRUNCATEs of partitions after it, in order. */
  partitions: PartitionTruncate[];
  /** Some line leaves a value out as unchanged (see StagedRows.unchanged). */
  unchanged: boolean;
  lines: LineSpool;
  counts: ChangeCounts;
  /** Known: every line names a different key (see the module comment). */
  distinctKeys: boolean;
  /** The keys seen while the transaction is open (released at its commit); null once not distinct or past the budget. */
  keys: KeySet | null;
}

/**
 * Keys named so far. While every line is an INSERT they are only listed (the
 * primary's unique key makes them distinct: hashing 200,000 keys of a bulk
 * load would be work for nothing); the first other change, or a partition's
 * TRUNCATE, moves them into the set, which then checks every key.
 */
interface KeySet {
  seen: Set<string>;
  inserted: string[] | null;
  bytes: number;
}

const newKeySet = (): KeySet => ({ seen: new Set(), inserted: [], bytes: 0 });

/** From now on every key is checked against the set. */
function settleInserted(keys: KeySet | null): void {
  if (!keys?.inserted) return;
  for (const k of keys.inserted) keys.seen.add(k);
  keys.inserted = null;
}

export interface Transaction {
  endLsn: Lsn;
  /** Commit time, ms since the Unix epoch (primary clock). */
  committedAt: number;
  tables: Map<ReplicatedTable, TableChanges>;
  changes: number;
  bytes: number;
}

interface RelationMap {
  table: ReplicatedTable;
  /** For each replicated column of the model, its index in the stream's row, or -1 (then its missing value). */
  index: number[];
  keyIndex: number[];
  /** The stream's columns differ from the model's. */
  differs: boolean;
  /**
   * Why the changes sent under this relation message cannot be used (their
   * columns cannot be placed, or their identity is not the key): each is
   * dropped where the table's fresh copy supersedes it, else this is thrown.
   */
  problem: ReplicatorError | null;
  /** Keys are told apart by their text. */
  canonicalKeys: boolean;
}

const PG_EPOCH_MS = 946_684_800_000;
/** What a seen key costs in memory besides its text (its Set entry and string header), for the budget. */
const KEY_OVERHEAD_BYTES = 64;

export class TransactionAssembler {
  private relations = new Map<number, RelationMap>();
  private current:
    | { endLsn: Lsn; commitTime: bigint; xid: number; tables: Map<ReplicatedTable, TableChanges>; changes: number }
    | undefined;
  private seq = 0;
  /** Bytes in memory across the open transaction: lines not spilled, and the sets of keys. */
  memory = 0;

  constructor(
    private readonly tables: ReadonlyMap<number, ReplicatedTable>,
    private readonly skipThrough: Lsn,
    private readonly onTransaction: (transaction: Transaction) => void,
    /** A relation whose columns differ from the prepared model: the caller checks the schema. */
    private readonly onRelationChange: (table: ReplicatedTable) => void,
    private readonly onWatermark: (content: string, lsn: Lsn) => void,
    private readonly memoryBudget: () => number,
    /**
     * Tables copied afresh from this stream's start on, and the WAL position
     * read before the copies' horizon: every transaction committed below it
     * is visible in the copy's first snapshot (logical-source.ts waits for
     * the horizon), so such a transaction's changes of such a table that
     * cannot be used (see RelationMap.problem) are superseded, not an error.
     * Nothing committed later is: the copy may not hold it.
     */
    private readonly superseded: ReadonlySet<ReplicatedTable> = new Set(),
    private readonly supersededBelow: Lsn = 0n,
    /** The earlier names of a table's column, from renames seen while running (column-renames.ts). */
    private readonly earlierNames: (relid: number, column: string) => string[] = () => [],
    /** The most lines a table's share applied inline may have (BATCH_SIZE). */
    private readonly inlineLines = Number.POSITIVE_INFINITY,
    /** The names of a table's columns dropped while running (column-renames.ts). */
    private readonly droppedNames: (relid: number) => ReadonlySet<string> = () => new Set(),
  ) {}

  get inTransaction(): boolean {
    return this.current !== undefined;
  }

  /** Changes of the open transaction received so far. */
  get openChanges(): number {
    return this.current?.changes ?? 0;
  }

  handle(message: PgOutputMessage): void {
    switch (message.tag) {
      case 'begin':
        this.current = {
          endLsn: message.finalLsn,
          commitTime: message.commitTime,
          xid: message.xid,
          tables: new Map(),
          changes: 0,
        };
        return;
      case 'commit': {
        const current = this.current;
        this.current = undefined;
        this.memory = 0;
        if (!current) return;
        if (message.endLsn <= this.skipThrough || current.tables.size === 0) {
          for (const t of current.tables.values()) t.lines.discard();
          return;
        }
        let bytes = 0;
        for (const t of current.tables.values()) {
          bytes += t.lines.bytes;
          t.keys = null;
        }
        this.onTransaction({
          endLsn: message.endLsn,
          committedAt: Number(current.commitTime / 1000n) + PG_EPOCH_MS,
          tables: current.tables,
          changes: current.changes,
          bytes,
        });
        return;
      }
      case 'relation':
        this.relation(message);
        return;
      case 'insert':
        this.change(message.relid, 'inserts', (map, changes) => this.upsertLine(map, message.row, null, changes, null, true));
        return;
      case 'update':
        this.change(message.relid, 'updates', (map, changes) => {
          if (message.old && !this.carriesKey(map, message.old)) return;
          const oldKey = message.old ? map.keyIndex.map((i) => keyValue(message.old?.[i] ?? null)) : null;
          const newKey = map.keyIndex.map((i) => keyValue(message.row[i] as TupleValue));
          const moved = oldKey?.some((v, i) => v !== newKey[i]) === true;
          if (moved) this.deleteLine(map, message.old as TupleValue[], changes);
          const from = moved ? (oldKey as TupleValue[]).map((v) => (typeof v === 'string' ? v : null)) : null;
          this.upsertLine(map, message.row, message.oldKind === 'O' ? message.old : null, changes, from);
        });
        return;
      case 'delete':
        this.change(message.relid, 'deletes', (map, changes) => {
          if (this.carriesKey(map, message.old)) this.deleteLine(map, message.old, changes);
        });
        return;
      case 'truncate':
        for (const relid of message.relids) {
          const map = this.relations.get(relid);
          const table = map?.table ?? this.tables.get(relid);
          if (!table || !this.current) continue;
          const changes = this.tableChanges(table);
          changes.lines.discard();
          changes.distinctKeys = map?.canonicalKeys === true;
          changes.keys = changes.distinctKeys ? newKeySet() : null;
          changes.truncated = true;
          changes.partitions = [];
          changes.counts.truncates++;
          this.current.changes++;
        }
        this.memory = 0;
        for (const t of this.current?.tables.values() ?? []) this.memory += held(t);
        return;
      case 'message':
        if (!message.transactional && message.prefix === 'pg-replicator') {
          this.onWatermark(message.content.toString('utf8'), message.lsn);
        } else if (message.transactional && message.prefix === TRUNCATE_MESSAGE_PREFIX) {
          this.partitionTruncated(message.content.toString('utf8'));
        }
        return;
      default:
        return;
    }
  }

  /** Drops every spooled line of the open transaction (the stream is being restarted). */
  discard(): void {
    for (const t of this.current?.tables.values() ?? []) t.lines.discard();
    this.current = undefined;
    this.memory = 0;
  }

  private relation(message: Extract<PgOutputMessage, { tag: 'relation' }>): void {
    const table = this.tables.get(message.relid);
    if (!table) {
      this.relations.delete(message.relid);
      return;
    }
    const position = new Map(message.columns.map((c: RelationColumn, i) => [c.name, i]));
    const named = new Set(table.columns.map((c) => c.name));
    // A column the stream names by an earlier name of one of the model's (a rename seen): that column.
    const placed = new Set<string>();
    const find = (column: string): number => {
      const here = position.get(column);
      if (here !== undefined) return here;
      const earlier = this.earlierNames(table.relid, column).filter((e) => position.has(e) && !named.has(e));
      if (earlier.length !== 1) return -1;
      placed.add(earlier[0] as string);
      return position.get(earlier[0] as string) as number;
    };
    const index = table.columns.map((c) => find(c.name));
    const keyIndex = table.keyColumns.map((k) => find(k));
    const differs = index.includes(-1) || placed.size > 0 || message.columns.length !== table.columns.length;
    // A model column the stream lacks takes its missing value only when the stream has no column the
    // model lacks (an ADD COLUMN since). Otherwise a column was renamed (or one dropped and another
    // added) since these changes: the WAL names columns by their old names, and which old column is
    // which new one cannot be told without guessing, so their values would be lost.
    // A column seen dropped is known: its values are left out, and no model column is its rename.
    const dropped = this.droppedNames(table.relid);
    const unknown = message.columns
      .filter((c) => !named.has(c.name) && !placed.has(c.name) && !dropped.has(c.name))
      .map((c) => c.name);
    const ambiguous = index.includes(-1) && unknown.length > 0;
    const unplaceable = ambiguous || keyIndex.includes(-1);
    // A partitioned table's message is its root's: its partitions' identities are checked by the caller.
    const identity = table.partitioned || unplaceable ? null : identityUnlessKey(message, keyIndex);
    let problem: ReplicatorError | null = identity === null ? null : identityChanged(table, identity);
    if (unplaceable) {
      const name = displayName(table.table);
      const missing = table.columns.filter((_, i) => index[i] === -1).map((c) => c.name);
      problem = new ReplicatorError(
        'SCHEMA_MISMATCH',
        `primary: changes of ${name} in the WAL were made before a column was renamed, or dropped and another added (they have ${unknown.join(', ') || 'no column'} where the table now has ${missing.join(', ')}${keyIndex.includes(-1) ? `, its key ${table.keyColumns.join(', ')} among them` : ''}), and cannot be placed in its columns without guessing (the WAL names columns, not their numbers, and this process did not see the change happen); run \`replicator resync ${name}\`: the table is copied afresh and those changes are superseded by the copy`,
      );
    }
    this.relations.set(message.relid, { table, index, keyIndex, differs, problem, canonicalKeys: keyTextIsCanonical(table) });
    if (differs || table.partitioned) this.onRelationChange(table);
  }

  /** The open transaction's changes of `table` are superseded by its fresh copy (see the constructor). */
  private supersedes(table: ReplicatedTable): boolean {
    return this.superseded.has(table) && this.current !== undefined && this.current.endLsn < this.supersededBelow;
  }

  /** `<table oid> <partition oid> <change id>`; anything else, or a table outside the set, is not ours. */
  private partitionTruncated(content: string): void {
    const match = /^(\d{1,10}) (\d{1,10}) (\d{1,19})$/.exec(content);
    const table = match && this.tables.get(Number(match[1]));
    if (!match || !table || !this.current) return;
    const changes = this.tableChanges(table);
    // After the table's own TRUNCATE with nothing since (a TRUNCATE of the root fires every partition's trigger too): nothing to add.
    if (changes.truncated && changes.lines.bytes === 0) return;
    settleInserted(changes.keys);
    changes.partitions.push({
      partition: Number(match[2]),
      changeId: match[3] as string,
      xid: this.current.xid,
      seq: this.seq++,
    });
    changes.counts.truncates++;
    this.current.changes++;
  }

  private tableChanges(table: ReplicatedTable, canonicalKeys = false): TableChanges {
    const current = this.current as NonNullable<typeof this.current>;
    let changes = current.tables.get(table);
    if (!changes) {
      changes = {
        table,
        truncated: false,
        partitions: [],
        unchanged: false,
        lines: new LineSpool(),
        counts: { inserts: 0, updates: 0, deletes: 0, truncates: 0 },
        distinctKeys: canonicalKeys,
        keys: canonicalKeys ? newKeySet() : null,
      };
      current.tables.set(table, changes);
    }
    return changes;
  }

  private change(
    relid: number,
    kind: 'inserts' | 'updates' | 'deletes',
    write: (map: RelationMap, changes: TableChanges) => void,
  ) {
    const map = this.relations.get(relid);
    if (!map || !this.current) return;
    if (map.problem) {
      if (this.supersedes(map.table)) return;
      throw map.problem;
    }
    const changes = this.tableChanges(map.table, map.canonicalKeys);
    const before = held(changes);
    write(map, changes);
    if (changes.lines.count > this.inlineLines) changes.lines.spill();
    changes.counts[kind]++;
    this.current.changes++;
    this.memory += held(changes) - before;
    if (this.memory > this.memoryBudget()) {
      this.memory = 0;
      for (const t of this.current.tables.values()) {
        t.lines.spill();
        this.memory += held(t);
      }
    }
  }

  private upsertLine(
    map: RelationMap,
    row: TupleValue[],
    old: TupleValue[] | null,
    changes: TableChanges,
    fromKey: Array<string | null> | null = null,
    insert = false,
  ): void {
    const unchanged: string[] = [];
    const values = map.index.map((i, c): string | Buffer => {
      const column = map.table.columns[c] as (typeof map.table.columns)[number];
      if (i < 0) return copyValue(column.hasMissing ? column.missingValue : null);
      let value = row[i] as TupleValue;
      if (isUnchanged(value)) {
        // A TOASTed value the UPDATE did not change: from the old row (REPLICA IDENTITY FULL), else filled in on the replica.
        const before = old?.[i];
        if (before === undefined || isUnchanged(before)) {
          unchanged.push(column.name);
          return '\\N';
        }
        value = before;
      }
      // A large value's bytes are escaped as the line is written (addLine).
      return Buffer.isBuffer(value) ? value : copyValue(value);
    });
    if (unchanged.length > 0) changes.unchanged = true;
    this.noteKey(
      changes,
      map.keyIndex.map((i) => keyValue(row[i] as TupleValue)),
      insert,
    );
    const names = unchanged.length === 0 ? '\\N' : copyValue(arrayLiteral(unchanged));
    // A moved row with unchanged values inherits them from its old key.
    const from = map.table.keyColumns.map((_, j) => (unchanged.length > 0 && fromKey ? copyValue(fromKey[j] ?? null) : '\\N'));
    addLine(changes.lines, [String(this.seq++), names, ...from, 't', ...values]);
  }

  /**
   * Whether an old row (an UPDATE's or DELETE's) holds the key. One that
   * does not was sent under another replica identity (a partition's,
   * changed): dropped when the table's fresh copy supersedes it, else the
   * stream stops with the fix.
   */
  private carriesKey(map: RelationMap, old: TupleValue[]): boolean {
    if (map.keyIndex.every((i) => typeof old[i] === 'string' || Buffer.isBuffer(old[i]))) return true;
    if (this.supersedes(map.table)) return false;
    throw identityChanged(map.table, 'without the key');
  }

  /** A line names this key (`insert`: an INSERT's line): still distinct? */
  private noteKey(changes: TableChanges, key: TupleValue[], insert = false): void {
    const keys = changes.keys;
    if (!keys) return;
    const text = key.length === 1 ? key[0] : key.every((v) => typeof v === 'string') ? key.map(copyValue).join('\t') : null;
    if (typeof text !== 'string' || keys.bytes > this.memoryBudget()) {
      changes.distinctKeys = false;
      changes.keys = null;
      return;
    }
    keys.bytes += text.length + KEY_OVERHEAD_BYTES;
    if (insert && keys.inserted) {
      keys.inserted.push(text);
      return;
    }
    settleInserted(keys);
    if (keys.seen.has(text)) {
      changes.distinctKeys = false;
      changes.keys = null;
      return;
    }
    keys.seen.add(text);
  }

  private deleteLine(map: RelationMap, old: TupleValue[], changes: TableChanges): void {
    this.noteKey(
      changes,
      map.keyIndex.map((i) => keyValue(old[i] as TupleValue)),
    );
    const keys = new Map(map.table.keyColumns.map((k, j) => [k, map.keyIndex[j] as number]));
    const values = map.table.columns.map((c) => {
      const i = keys.get(c.name);
      if (i === undefined) return '\\N';
      const value = keyValue(old[i] as TupleValue);
      return copyValue(typeof value === 'string' ? value : null);
    });
    const from = map.table.keyColumns.map(() => '\\N');
    addLine(changes.lines, [String(this.seq++), '\\N', ...from, 'f', ...values]);
  }
}

/**
 * The replica identity a relation message shows, described, when it is not
 * the key (FULL, or a key or index on exactly the key's columns, carries
 * it); null when it is.
 */
function identityUnlessKey(message: Extract<PgOutputMessage, { tag: 'relation' }>, keyIndex: readonly number[]): string | null {
  if (message.replicaIdentity === 'f') return null;
  const flagged = message.columns.filter((c) => c.key).map((c) => c.name);
  const exact = flagged.length === keyIndex.length && keyIndex.every((i) => message.columns[i]?.key === true);
  if ((message.replicaIdentity === 'd' || message.replicaIdentity === 'i') && exact) return null;
  if (message.replicaIdentity === 'n') return 'NOTHING';
  return `${message.replicaIdentity === 'i' ? 'an index' : 'the primary key'} on ${flagged.join(', ') || 'no column'}`;
}

function identityChanged(table: ReplicatedTable, identity: string): ReplicatorError {
  const name = displayName(table.table);
  return new ReplicatorError(
    'SCHEMA_MISMATCH',
    `primary: changes of ${name} in the WAL came with a replica identity other than its replication key (${identity}; the key is ${table.keyColumns.join(', ')}): it was changed since the replicator checked it, and those UPDATEs and DELETEs cannot say which row they touched; set it back (ALTER TABLE ${name} REPLICA IDENTITY DEFAULT, or USING INDEX <a unique index on exactly the key>, or FULL; on each partition of a partitioned table), then run \`replicator resync ${name}\` as the table's owner: the table is copied afresh and those changes are superseded by the copy`,
  );
}

/** What a table's share of the open transaction holds in memory. */
const held = (changes: TableChanges): number => changes.lines.memory + (changes.keys?.bytes ?? 0);

/** A key's value as text (a large value decoded: a key that size is unusual, and its text is compared). */
const keyValue = (value: TupleValue): TupleValue => (Buffer.isBuffer(value) ? value.toString('utf8') : value);

/**
 * Adds the line of these fields (COPY text, or a large value's bytes, escaped
 * here): one flat string made by join, or, with a large value, written to the
 * spool as it is escaped (consecutive text fields in one piece).
 */
function addLine(lines: LineSpool, fields: (string | Buffer)[]): void {
  const last = fields.length - 1;
  if (!fields.some((f) => Buffer.isBuffer(f))) {
    fields[last] = `${fields[last]}\n`;
    lines.add((fields as string[]).join('\t'));
    return;
  }
  lines.addStreamed(
    (function* () {
      let text = '';
      for (let i = 0; i <= last; i++) {
        const field = fields[i] as string | Buffer;
        if (typeof field === 'string') text += field;
        else {
          if (text !== '') yield text;
          text = '';
          yield* copyBytes(field);
        }
        text += i === last ? '\n' : '\t';
      }
      yield text;
    })(),
  );
}

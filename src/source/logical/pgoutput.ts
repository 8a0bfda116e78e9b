/**
 * Decodes the messages of PostgreSQL's pgoutput plugin (protocol version 1,
 * text format) exactly as sent: every column value stays the text the
 * primary's output function printed (null, unchanged-TOAST and text are told
 * apart, never turned into JS numbers or Dates). A value of LARGE_VALUE_BYTES
 * or more stays the bytes the primary sent (a view of the message, not a
 * copy: valid only while the message is handled), so it is never held as a
 * string too (its UTF-8 bytes are the text's, unchanged). Unknown message
 * types are an error, never skipped silently.
 */

/** Text, a large value's UTF-8 bytes, SQL NULL, or a TOASTed value the change left out. */
export type TupleValue = string | Buffer | null | { unchanged: true };

/** From this size on, a value is kept as its bytes (see the module comment). */
export const LARGE_VALUE_BYTES = 256 * 1024;

export const isUnchanged = (value: TupleValue | undefined): value is { unchanged: true } =>
  value !== null && value !== undefined && typeof value === 'object' && !Buffer.isBuffer(value);

export interface RelationColumn {
  name: string;
  key: boolean;
  typeOid: number;
}

export type PgOutputMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTime: bigint; xid: number }
  | { tag: 'commit'; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { tag: 'relation'; relid: number; schema: string; name: string; replicaIdentity: string; columns: RelationColumn[] }
  | { tag: 'insert'; relid: number; row: TupleValue[] }
  | { tag: 'update'; relid: number; old: TupleValue[] | null; oldKind: 'K' | 'O' | null; row: TupleValue[] }
  | { tag: 'delete'; relid: number; old: TupleValue[]; oldKind: 'K' | 'O' }
  | { tag: 'truncate'; relids: number[] }
  | { tag: 'message'; transactional: boolean; lsn: bigint; prefix: string; content: Buffer }
  | { tag: 'other' };

class Reader {
  constructor(
    private readonly buffer: Buffer,
    public offset: number,
  ) {}
  byte(): number {
    const b = this.buffer[this.offset++];
    if (b === undefined) throw new Error('pgoutput: message ends early');
    return b;
  }
  int16(): number {
    const v = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  int32(): number {
    const v = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  uint32(): number {
    const v = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  int64(): bigint {
    const v = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }
  uint64(): bigint {
    const v = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }
  /** A NUL-terminated string. */
  string(): string {
    const end = this.buffer.indexOf(0, this.offset);
    if (end < 0) throw new Error('pgoutput: unterminated string');
    const s = this.buffer.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    const b = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }
  tuple(): TupleValue[] {
    const n = this.int16();
    const values: TupleValue[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const kind = this.byte();
      if (kind === KIND_NULL) values[i] = null;
      else if (kind === KIND_UNCHANGED) values[i] = UNCHANGED;
      else if (kind === KIND_TEXT) {
        const length = this.int32();
        const start = this.offset;
        const end = start + length;
        if (end > this.buffer.length) throw new Error('pgoutput: message ends early');
        this.offset = end;
        // Decoded from the message in place (no view made first): most values are small.
        values[i] = length >= LARGE_VALUE_BYTES ? this.buffer.subarray(start, end) : this.buffer.toString('utf8', start, end);
      } else throw new Error(`pgoutput: column kind '${String.fromCharCode(kind)}' (only the text format is asked for)`);
    }
    return values;
  }
}

const KIND_NULL = 0x6e; // n
const KIND_UNCHANGED = 0x75; // u
const KIND_TEXT = 0x74; // t
const UNCHANGED: { unchanged: true } = Object.freeze({ unchanged: true });

/** The message that starts at `offset` of `buffer` (an XLogData's payload: read in place, not copied). */
export function decodePgOutput(buffer: Buffer, offset = 0): PgOutputMessage {
  const r = new Reader(buffer, offset);
  const tag = String.fromCharCode(r.byte());
  switch (tag) {
    case 'B':
      return { tag: 'begin', finalLsn: r.uint64(), commitTime: r.int64(), xid: r.uint32() };
    case 'C': {
      r.byte(); // flags
      return { tag: 'commit', commitLsn: r.uint64(), endLsn: r.uint64(), commitTime: r.int64() };
    }
    case 'R': {
      const relid = r.uint32();
      const schema = r.string();
      const name = r.string();
      const replicaIdentity = String.fromCharCode(r.byte());
      const n = r.int16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.byte();
        const column = r.string();
        const typeOid = r.uint32();
        r.int32(); // typmod
        columns.push({ name: column, key: (flags & 1) === 1, typeOid });
      }
      return { tag: 'relation', relid, schema: schema === '' ? 'pg_catalog' : schema, name, replicaIdentity, columns };
    }
    case 'I': {
      const relid = r.uint32();
      r.byte(); // 'N'
      return { tag: 'insert', relid, row: r.tuple() };
    }
    case 'U': {
      const relid = r.uint32();
      let kind = String.fromCharCode(r.byte());
      let old: TupleValue[] | null = null;
      let oldKind: 'K' | 'O' | null = null;
      if (kind === 'K' || kind === 'O') {
        oldKind = kind;
        old = r.tuple();
        kind = String.fromCharCode(r.byte());
      }
      if (kind !== 'N') throw new Error(`pgoutput: update without a new tuple ('${kind}')`);
      return { tag: 'update', relid, old, oldKind, row: r.tuple() };
    }
    case 'D': {
      const relid = r.uint32();
      const kind = String.fromCharCode(r.byte());
      if (kind !== 'K' && kind !== 'O') throw new Error(`pgoutput: delete without an old key ('${kind}')`);
      return { tag: 'delete', relid, oldKind: kind, old: r.tuple() };
    }
    case 'T': {
      const n = r.int32();
      r.byte(); // options: cascade, restart identity (the replica's sequences are synced separately)
      const relids: number[] = [];
      for (let i = 0; i < n; i++) relids.push(r.uint32());
      return { tag: 'truncate', relids };
    }
    case 'M': {
      const flags = r.byte();
      const lsn = r.uint64();
      const prefix = r.string();
      const content = r.bytes(r.int32());
      return { tag: 'message', transactional: (flags & 1) === 1, lsn, prefix, content };
    }
    case 'O': // origin of a transaction replicated from elsewhere
    case 'Y': // a type's name (we keep values as text and never need it)
      return { tag: 'other' };
    default:
      throw new Error(`pgoutput: unknown message '${tag}'`);
  }
}

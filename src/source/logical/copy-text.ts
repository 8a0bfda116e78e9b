/**
 * PostgreSQL's COPY text format for one value, byte for byte: the text a
 * primary printed goes to the replica's input function unchanged (only
 * COPY's own escapes are added), and NULL is \N, never an empty string.
 * A large value is escaped straight from the bytes the primary sent
 * (copyBytes): the four escaped characters are single bytes in UTF-8 that
 * never occur inside a multi-byte character, so escaping the bytes gives
 * exactly the bytes of the escaped text.
 */

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function copyValue(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\n\r\t]/g, (c) => ESCAPES[c] as string);
}

/** The second byte of each escaped byte's escape (the first is the backslash); 0: not escaped. */
const BYTE_ESCAPES = new Uint8Array(256);
BYTE_ESCAPES[0x5c] = 0x5c; // \ → \\
BYTE_ESCAPES[0x0a] = 0x6e; // newline → \n
BYTE_ESCAPES[0x0d] = 0x72; // carriage return → \r
BYTE_ESCAPES[0x09] = 0x74; // tab → \t

const CHUNK_BYTES = 1 << 20;

/**
 * The value's UTF-8 bytes as COPY text, in chunks of about a megabyte
 * (stretches with nothing to escape are handed out as views of `raw`, not
 * copied), so a value of any size is never held escaped in memory whole.
 */
export function* copyBytes(raw: Buffer): Generator<Buffer> {
  let start = 0;
  let out: Buffer | undefined;
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const second = BYTE_ESCAPES[raw[i] as number] as number;
    if (second === 0) continue;
    // The stretch before this byte, then its escape.
    if (!out || n + (i - start) + 2 > out.length) {
      if (out && n > 0) yield out.subarray(0, n);
      if (i - start >= CHUNK_BYTES) {
        yield raw.subarray(start, i);
        start = i;
      }
      out = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, i - start + 2));
      n = 0;
    }
    n += raw.copy(out, n, start, i);
    out[n++] = 0x5c;
    out[n++] = second;
    start = i + 1;
  }
  if (out && n > 0) yield out.subarray(0, n);
  if (start < raw.length) yield raw.subarray(start);
}

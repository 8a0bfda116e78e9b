/**
 * PostgreSQL's COPY text format for one value, byte for byte: the text a
 * primary printed goes to the replica's input function unchanged (only
 * COPY's own escapes are added), and NULL is \N, never an empty string.
 */

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function copyValue(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\n\r\t]/g, (c) => ESCAPES[c] as string);
}

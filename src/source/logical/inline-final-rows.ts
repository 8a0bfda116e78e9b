/**
 * A table's changes in a batch, reduced in the process to each key's final
 * state, as InlineRows for the one-statement apply: the COPY lines of the
 * batch's transactions (transaction-assembler.ts), read in the order the
 * primary made them, where a key's last line wins (an upsert: the row it
 * ends as; a delete: the key is gone). Keys are told apart by their text,
 * which is only the type's equality where the key's text is canonical
 * (tables/key-text-canonical.ts): the caller takes this path only then, and
 * only for lines that leave no value out as unchanged. Values stay the
 * primary's text: COPY's escapes are undone exactly (\N is NULL, never the
 * text "\N" a value can hold) and the text goes into array and record
 * literals (db/array-literal.ts) the replica parses with its input functions.
 */
import { arrayLiteral, recordArrayLiteral, recordElement } from '../../db/array-literal.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import type { InlineRows } from '../batch.js';

const UNESCAPES: Record<string, string> = { '\\': '\\', n: '\n', r: '\r', t: '\t' };

/** One COPY text field back to its value (copy-text.ts escapes exactly these). */
function copyField(field: string): string | null {
  if (field === '\\N') return null;
  if (!field.includes('\\')) return field;
  return field.replace(/\\(.)/gs, (_, c: string) => {
    const value = UNESCAPES[c];
    if (value === undefined) throw new Error(`COPY line: unexpected escape \\${c}`);
    return value;
  });
}

export function inlineFinalRows(table: ReplicatedTable, lines: Iterable<readonly string[]>): InlineRows {
  const keyCount = table.keyColumns.length;
  // Line: seq, unchanged names, the old key (one field per key column), upsert flag, columns.
  const flagAt = 2 + keyCount;
  const first = flagAt + 1;
  const width = first + table.columns.length;
  const keyAt = table.keyColumns.map((k) => first + table.columns.findIndex((c) => c.name === k));
  if (keyAt.some((i) => i < first)) throw new Error('inline rows: a key column is not replicated');
  const columnAt = new Map(table.columns.map((c, i) => [c.name, first + i]));
  const rowAt = table.replicaRow.map((c) => (c === null ? -1 : (columnAt.get(c) ?? -1)));

  const last = new Map<string, string[]>();
  for (const chunk of lines) {
    for (const line of chunk) {
      const fields = line.slice(0, -1).split('\t');
      if (fields.length !== width || fields[1] !== '\\N') throw new Error('inline rows: a line is not a complete change');
      const key = keyCount === 1 ? (fields[keyAt[0] as number] as string) : keyAt.map((i) => fields[i]).join('\t');
      last.set(key, fields);
    }
  }

  const upserts: string[] = [];
  const deleted: string[][] = table.keyColumns.map(() => []);
  for (const fields of last.values()) {
    if (fields[flagAt] === 't') {
      upserts.push(recordElement(rowAt.map((i) => (i < 0 ? null : copyField(fields[i] as string)))));
    } else {
      keyAt.forEach((i, j) => {
        const value = copyField(fields[i] as string);
        if (value === null) throw new Error('inline rows: a deleted key is NULL');
        (deleted[j] as string[]).push(value);
      });
    }
  }
  const deleteCount = deleted[0]?.length ?? 0;
  return {
    kind: 'inline',
    upserts: upserts.length > 0 ? recordArrayLiteral(upserts) : null,
    upsertCount: upserts.length,
    deleteKeys: deleteCount > 0 ? deleted.map(arrayLiteral) : null,
    deleteCount,
  };
}

/**
 * Key tuples compared with the key's own operators (schema-qualified, found
 * in the catalog), so keys of extension types order and match correctly
 * under the pinned search_path, and the key's index can still serve the
 * comparison where it can.
 */
import { quoteIdent } from '../db/quote.js';

/**
 * `left op right` for key tuples, with the key's own (qualified) operators:
 * a row comparison where every column's operator lives in one schema (the
 * index can serve it), else spelled out lexicographically.
 */
export function compareTuples(left: string[], right: string[], ops: string[], equals: string[], strict: boolean): string {
  const schema = (op: string) => op.slice(0, op.lastIndexOf('.'));
  if (ops.every((op) => schema(op) === schema(ops[0] as string))) {
    const op = `${schema(ops[0] as string)}.${strict ? '>' : '<='}`;
    return `(${left.join(', ')}) OPERATOR(${op}) (${right.join(', ')})`;
  }
  // Mixed schemas: (l1 > r1) OR (l1 = r1 AND l2 > r2) OR ...; `<=` is NOT `>`.
  const greater = left
    .map((l, i) =>
      [...left.slice(0, i).map((p, j) => `${p} OPERATOR(${equals[j]}) ${right[j]}`), `${l} OPERATOR(${ops[i]}) ${right[i]}`].join(
        ' AND ',
      ),
    )
    .map((term) => `(${term})`)
    .join(' OR ');
  return strict ? `(${greater})` : `NOT (${greater})`;
}

/** `left.k1 = right.k1 AND ...` with each key column's own equality operator (`rightKeys`: the names on the right, if they differ). */
export function keysMatch(
  keys: readonly string[],
  operators: readonly string[],
  left: string,
  right: string,
  rightKeys: readonly string[] = keys,
): string {
  return keys
    .map((k, i) => `${left}.${quoteIdent(k)} OPERATOR(${operators[i]}) ${right}.${quoteIdent(rightKeys[i] as string)}`)
    .join(' AND ');
}

/**
 * The one place values become PostgreSQL array (and record) literal text, for
 * an inline `<type>[]` parameter the replica parses with its own input
 * functions: every element and every record field is double-quoted with its
 * backslashes and double quotes escaped, so any text (empty, "NULL", braces,
 * commas, quotes, backslashes, newlines, tabs, leading spaces) reads back
 * byte for byte; an SQL NULL field is left empty (record_in's NULL), never
 * the string NULL. Values stay the text the primary printed; nothing here
 * parses them.
 */

const quoted = (text: string) => `"${text.replace(/[\\"]/g, '\\$&')}"`;

/** `{"a","b"}`: an array of the given texts (none of them NULL). */
export function arrayLiteral(texts: readonly string[]): string {
  return `{${texts.map(quoted).join(',')}}`;
}

// A record field quoted for record_in (`"` + text with \ and " escaped + `"`),
// then quoted again as part of an array element: \ becomes \\\\, " becomes
// \\\", and the field's own quotes \". One pass per value.
const FIELD_ESCAPES: Record<string, string> = { '\\': '\\\\\\\\', '"': '\\\\\\"' };

/**
 * One element of an array of records, as array_in and record_in read it:
 * fields in the record type's attribute order, null for SQL NULL.
 */
export function recordElement(fields: readonly (string | null)[]): string {
  let element = '"(';
  for (let i = 0; i < fields.length; i++) {
    if (i > 0) element += ',';
    const field = fields[i];
    if (field === null || field === undefined) continue;
    element += `\\"${field.replace(/[\\"]/g, (c) => FIELD_ESCAPES[c] as string)}\\"`;
  }
  return `${element})"`;
}

/** `{<element>,...}` of elements made by recordElement. */
export function recordArrayLiteral(elements: readonly string[]): string {
  return `{${elements.join(',')}}`;
}

/**
 * The one place identifiers become SQL text. Values never do: they are always
 * query parameters.
 */
import { escapeIdentifier } from 'pg';

export interface QualifiedName {
  schema: string;
  name: string;
}

export const quoteIdent = escapeIdentifier;

export function quoteQualified(table: QualifiedName): string {
  return `${escapeIdentifier(table.schema)}.${escapeIdentifier(table.name)}`;
}

export function displayName(table: QualifiedName): string {
  return table.schema === 'public' ? table.name : `${table.schema}.${table.name}`;
}

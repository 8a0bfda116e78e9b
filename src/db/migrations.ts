/**
 * The replicator's own schema changes: numbered files in db/migrations,
 * `NNN_name.side.sql` where side is primary, replica or both. Each database
 * applies the ones for its side in number order, each exactly once
 * (migrate.ts records them in replicator.migrations). A release that changes
 * an object adds a file; it never edits one that has shipped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DatabaseRole } from './connect.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../db/migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  side: DatabaseRole | 'both';
  sql: string;
}

const FILE = /^(\d{3})_([a-z0-9_]+)\.(primary|replica|both)\.sql$/;

let cache: Migration[] | undefined;

export function allMigrations(): Migration[] {
  cache ??= readdirSync(MIGRATIONS_DIR)
    .map((file) => FILE.exec(file))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({
      version: Number(m[1]),
      name: m[2] as string,
      side: m[3] as Migration['side'],
      sql: readFileSync(`${MIGRATIONS_DIR}${m[0]}`, 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
  return cache;
}

/** The migrations one side applies, in order. */
export function migrationsFor(side: DatabaseRole): Migration[] {
  return allMigrations().filter((m) => m.side === side || m.side === 'both');
}

/** The newest version this package knows for a side. */
export function latestVersion(side: DatabaseRole): number {
  return Math.max(0, ...migrationsFor(side).map((m) => m.version));
}

/**
 * db/init.sql, generated: the file a user pastes by hand (the Go demo's
 * README: PART 1 into the primary, PART 2 into the replica) does exactly what
 * `replicator init` does, then creates the demo's tables (db/demo.sql). Each
 * part applies the migrations its database lacks, in one DO block, under the
 * installers' advisory lock. `npm run build:sql` writes it; a unit test fails
 * when the file and this generator disagree.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DatabaseRole } from './connect.js';
import { MIGRATIONS_LOCK, MIGRATIONS_TABLE } from './migrate.js';
import { migrationsFor } from './migrations.js';

export const INIT_SQL_PATH = fileURLToPath(new URL('../../db/init.sql', import.meta.url));
export const DEMO_SQL_PATH = fileURLToPath(new URL('../../db/demo.sql', import.meta.url));

/** The section of a db/ file that starts at its `-- PART n` line (1: primary, 2: replica). */
export function sqlPart(text: string, part: 1 | 2): string {
  const start = text.search(new RegExp(`^-- PART ${part}\\b`, 'm'));
  if (start < 0) throw new Error(`no "-- PART ${part}" section`);
  const rest = text.slice(start);
  const next = rest.slice(1).search(/^-- PART \d/m);
  return next < 0 ? rest : rest.slice(0, next + 1);
}

/** The migrations of one side as one idempotent DO block. */
export function migrationBlock(side: DatabaseRole): string {
  const steps = migrationsFor(side).map((m) => {
    const tag = `$m${String(m.version).padStart(3, '0')}$`;
    return `    IF NOT EXISTS (SELECT FROM replicator.migrations m WHERE m.version = ${m.version}) THEN
        EXECUTE ${tag}
${m.sql.trimEnd()}
${tag};
        INSERT INTO replicator.migrations (version, name) VALUES (${m.version}, '${m.name}');
    END IF;`;
  });
  return `DO $migrations$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    PERFORM pg_catalog.pg_advisory_xact_lock(${MIGRATIONS_LOCK});
    IF pg_catalog.to_regclass('replicator.tables') IS NOT NULL
       AND NOT EXISTS (SELECT FROM replicator.migrations m WHERE m.version = 1) THEN
        RAISE EXCEPTION 'schema replicator holds a pre-release install of pg-replicator'
            USING HINT = 'remove it with \`replicator uninstall\`, then run this part again';
    END IF;
${steps.join('\n')}
END
$migrations$;`;
}

export function generateInitSql(): string {
  const demo = readFileSync(DEMO_SQL_PATH, 'utf8');
  const part = (n: 1 | 2, side: DatabaseRole, title: string) => {
    const demoPart = sqlPart(demo, n).replace(/^-- PART \d.*\n/, '');
    return `-- PART ${n}: ${title} ${'-'.repeat(Math.max(3, 70 - title.length))}

-- The replicator's own objects (schema replicator), as \`replicator init ${side}\` installs them.
${MIGRATIONS_TABLE}
${migrationBlock(side)}

-- The demo.${demoPart.trimEnd()}
`;
  };
  return `-- pg-replicator schema for the demo: GENERATED from db/migrations and db/demo.sql
-- by \`npm run build:sql\`; edit those, not this file.
-- Paste PART 1 into the primary and PART 2 into the replica (psql -f works too).
-- Running a part again changes nothing. Requires PostgreSQL 14 or newer.

${part(1, 'primary', 'primary database')}
${part(2, 'replica', 'replica database')}`;
}

/** The part a side runs to install the demo (the embedded default and the tests). */
export function initSqlPart(part: 1 | 2): string {
  return sqlPart(readFileSync(INIT_SQL_PATH, 'utf8'), part);
}

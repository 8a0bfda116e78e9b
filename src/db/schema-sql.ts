/**
 * db/init.sql is the one source of truth for both schemas: the install
 * commands run its sections verbatim, exactly what a user pastes by hand.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const INIT_SQL_PATH = fileURLToPath(new URL('../../db/init.sql', import.meta.url));
export const PRIVILEGES_SQL_PATH = fileURLToPath(new URL('../../db/privileges.sql', import.meta.url));

/** The section of a db/ file that starts at its `-- PART n` line (1: primary, 2: replica). */
export function schemaPart(part: 1 | 2, path = INIT_SQL_PATH): string {
  const text = readFileSync(path, 'utf8');
  const start = text.search(new RegExp(`^-- PART ${part}\\b`, 'm'));
  if (start < 0) throw new Error(`${path} has no "-- PART ${part}" section`);
  const rest = text.slice(start);
  const next = rest.slice(1).search(/^-- PART \d/m);
  return next < 0 ? rest : rest.slice(0, next + 1);
}

/** Runs one part in a single transaction, so a failure leaves nothing half-installed. */
export async function applySchemaPart(client: import('pg').ClientBase, part: 1 | 2): Promise<void> {
  try {
    await client.query(`BEGIN; ${schemaPart(part)}; COMMIT;`);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** db/init.sql is generated from the migrations and db/demo.sql: it must not drift from them. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { generateInitSql, INIT_SQL_PATH } from '../../src/db/init-sql.js';
import { allMigrations, migrationsFor } from '../../src/db/migrations.js';

describe('db/init.sql', () => {
  it('is what `npm run build:sql` generates (run it after changing db/migrations or db/demo.sql)', () => {
    assert.equal(readFileSync(INIT_SQL_PATH, 'utf8'), generateInitSql());
  });

  it('numbers migrations once each, and gives each side its own and the shared ones', () => {
    const versions = allMigrations().map((m) => m.version);
    assert.deepEqual(
      versions,
      [...new Set(versions)].sort((a, b) => a - b),
    );
    assert.ok(migrationsFor('primary').every((m) => m.side !== 'replica'));
    assert.ok(migrationsFor('replica').every((m) => m.side !== 'primary'));
  });
});

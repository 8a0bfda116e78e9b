/**
 * The owner adds a table between the replicator's two reads at a (re)start,
 * logical mode: the replication set before the add, the publication after it
 * (add_table changes both in one transaction). The publication then differs
 * from the set the replicator prepared; that is the owner's change, not drift:
 * the replicator reads the set again instead of setting the publication back
 * (which fails as a login that does not own it, and would undo the add as one
 * that does).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readPosition } from '../../src/apply/replica-position.js';
import { addTable } from '../../src/capture/replication-set.js';
import { Database } from '../../src/db/database.js';
import { createLogger } from '../../src/log.js';
import { prepareTables } from '../../src/replication/prepare-tables.js';
import { LogicalSource } from '../../src/source/logical/logical-source.js';
import { type TestServers, waitFor } from '../support/servers.js';
import { startLogicalServers } from './logical-servers.js';

describe('logical mode: a table added between reading the set and checking the publication', () => {
  let servers: TestServers;

  before(async () => {
    servers = await startLogicalServers();
    for (const c of [servers.primarySql, servers.replicaSql]) {
      await c.query('CREATE TABLE public.extra (id int PRIMARY KEY, v text)');
    }
  });
  after(async () => {
    await servers.stop();
  });

  it('reads the set again, leaving the publication as the owner made it', async () => {
    const primary = new Database({ url: servers.replicator.primaryUrl, role: 'primary' });
    const replica = new Database({ url: servers.replicator.replicaUrl, role: 'replica' });
    const owner = {
      primary: new Database({ url: servers.primaryUrl, role: 'primary' }),
      replica: new Database({ url: servers.replicaUrl, role: 'replica' }),
    };
    const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
    const source = new LogicalSource(
      primary,
      {
        slot: 'pg_replicator',
        limits: { rows: 1000, bytes: 1 << 20 },
        copyChunkRows: 1000,
        pollIntervalMs: 100,
        statusIntervalMs: 10_000,
        retentionMs: 60_000,
        pruneIntervalMs: 60_000,
      },
      log,
    );
    const options = { addColumns: false, ensureTables: [], replicationSlot: 'pg_replicator' };
    try {
      const from = await readPosition(replica);
      const before = await prepareTables(primary, replica, source, from, log, options);
      assert.deepEqual(
        before.tables.map((t) => t.table.name),
        ['users'],
      );
      // The owner's add commits now: after the replicator read the set, before it looks at the publication.
      await addTable(owner.primary, owner.replica, 'public.extra');
      await source.recovered(before, from);
      assert.equal(await source.next(before, from), 'schema-changed');
      const published = await servers.primarySql.query<{ t: string }>(
        "SELECT tablename::text AS t FROM pg_publication_tables WHERE pubname = 'pg_replicator' ORDER BY 1",
      );
      assert.deepEqual(
        published.rows.map((r) => r.t),
        ['extra', 'users'],
      );
      // Prepared again, the set and the publication agree, and the stream starts.
      const after = await prepareTables(primary, replica, source, from, log, options);
      assert.deepEqual(after.tables.map((t) => t.table.name).sort(), ['extra', 'users']);
      await source.recovered(after, from);
      await waitFor(
        'the slot streamed',
        async () => (await servers.primarySql.query('SELECT 1 FROM pg_replication_slots WHERE active')).rowCount === 1,
      );
    } finally {
      await source.stop();
      await Promise.all([primary.end(), replica.end(), owner.primary.end(), owner.replica.end()]);
    }
  });
});

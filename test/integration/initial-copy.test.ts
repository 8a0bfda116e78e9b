/**
 * The initial copy is consistent with the change stream: rows that existed
 * before the table was added are copied in chunks while writers keep
 * updating, deleting and inserting, and the replica ends equal to the
 * primary. A resync repairs a replica table that drifted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Service } from '../../src/service.js';
import { runCli } from '../support/cli.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

const ROWS = 20_000;

describe('initial copy', () => {
  let servers: TestServers;
  let service: Service;
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers();
    env = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    await servers.primarySql.query(`
      CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text);
      INSERT INTO items SELECT g, 0, 'row ' || g FROM generate_series(1, ${ROWS}) g;
      ANALYZE items;`);
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms', COPY_CHUNK_ROWS: '1000' });
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  const same = async () =>
    JSON.stringify(await tableText(servers.replicaSql, 'items')) === JSON.stringify(await tableText(servers.primarySql, 'items'));
  const progress = async () =>
    (
      await servers.replicaSql.query(
        "SELECT rows_copied::int AS n, done FROM replicator.copy_progress WHERE table_name = 'items'",
      )
    ).rows[0];

  it('copies existing rows in chunks while writes go on, and ends equal', async () => {
    const writers = new pg.Pool({ connectionString: servers.primaryUrl, max: 3 });
    let writing = true;
    let writes = 0;
    const writer = async (worker: number) => {
      for (let i = 0; writing; i++) {
        const id = 1 + ((i * 7919 + worker * 104729) % ROWS);
        if (i % 10 === 9) await writers.query('DELETE FROM items WHERE id = $1', [id]);
        else if (i % 10 === 8)
          await writers.query('INSERT INTO items VALUES ($1, 1, $2) ON CONFLICT (id) DO NOTHING', [
            ROWS + worker * 1_000_000 + i,
            'new',
          ]);
        else await writers.query('UPDATE items SET v = v + 1, note = $2 WHERE id = $1', [id, `w${worker}:${i}`]);
        writes++;
      }
    };
    const running = [writer(0), writer(1), writer(2)];
    try {
      const added = await runCli(['add', 'items', '--no-wait'], env);
      assert.equal(added.code, 0, added.stderr);
      assert.match(added.stdout, /existing rows will be copied/);
      await waitFor('the copy under way', async () => ((await progress())?.n ?? 0) > 0, 30_000);
      const midway = await progress();
      assert.equal(midway?.done, false, 'copied in several chunks');
      await waitFor('the copy done', async () => (await progress())?.done === true, 60_000);
      assert.ok(writes > 100, `writes went on during the copy (${writes})`);
      const status = service.status.snapshot();
      assert.ok(status.initial_copy?.some((c) => c.table === 'items' && c.rows_done >= ROWS * 0.8));
    } finally {
      writing = false;
      await Promise.all(running);
      await writers.end();
    }
    await waitFor('replica equal to primary', same, 30_000);
  });

  it('resyncs a replica table that drifted', async () => {
    await servers.replicaSql.query("DELETE FROM items WHERE id % 3 = 0; UPDATE items SET note = 'drift' WHERE id % 5 = 0");
    await servers.replicaSql.query("INSERT INTO items VALUES (-1, -1, 'only on the replica')");
    assert.equal(await same(), false);
    const resync = await runCli(['resync', 'items'], env);
    assert.equal(resync.code, 0, resync.stderr);
    await waitFor('replica equal again', same, 60_000);
  });
});

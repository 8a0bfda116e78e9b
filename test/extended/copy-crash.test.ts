/**
 * A crash (SIGKILL) in the middle of the initial copy of 1,000,000 rows while
 * writes go on: after a restart the copy resumes from its last finished chunk
 * and the replica ends equal to the primary.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { runCli, startReplicator } from '../support/cli.js';
import { startTestServers, type TestServers, waitFor } from '../support/servers.js';

const ROWS = 1_000_000;

describe('crash during the initial copy', () => {
  let servers: TestServers;
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers();
    env = {
      PRIMARY_DATABASE_URL: servers.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicaUrl,
      COPY_CHUNK_ROWS: '50000',
      LOG_LEVEL: 'warn',
    };
    await servers.primarySql.query(`
      CREATE TABLE big (id bigint PRIMARY KEY, v int NOT NULL, payload text);
      INSERT INTO big SELECT g, 0, md5(g::text) FROM generate_series(1, ${ROWS}) g;
      ANALYZE big;`);
  });
  after(async () => {
    await servers.stop();
  });

  const digest = async (client: pg.Client): Promise<{ d: string; n: number }> => {
    const { rows } = await client.query("SELECT md5(string_agg(b::text, ',' ORDER BY id)) AS d, count(*)::int AS n FROM big b");
    return rows[0];
  };
  const progress = async () =>
    (await servers.replicaSql.query("SELECT rows_copied::int AS n, done FROM replicator.copy_progress WHERE table_name = 'big'"))
      .rows[0];

  it('resumes after SIGKILL and ends equal', async () => {
    const added = await runCli(['add', 'big', '--no-wait'], env);
    assert.equal(added.code, 0, added.stderr);

    const writers = new pg.Pool({ connectionString: servers.primaryUrl, max: 2 });
    let writing = true;
    let writes = 0;
    const writer = async (worker: number) => {
      for (let i = 0; writing; i++) {
        const id = 1 + ((i * 7919 + worker * 104729) % ROWS);
        if (i % 5 === 4) await writers.query('DELETE FROM big WHERE id = $1', [id]);
        else if (i % 5 === 3) await writers.query('INSERT INTO big VALUES ($1, 1, $2)', [ROWS + 1 + worker + i * 2, 'new']);
        else await writers.query('UPDATE big SET v = v + 1 WHERE id = $1', [id]);
        writes++;
      }
    };
    const running = [writer(0), writer(1)];
    try {
      const asReplicator = {
        ...env,
        PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
        REPLICA_DATABASE_URL: servers.replicator.replicaUrl,
      };
      const first = await startReplicator(asReplicator);
      await waitFor('a third of the copy done', async () => ((await progress())?.n ?? 0) >= 300_000, 120_000);
      first.child.kill('SIGKILL');
      await first.exited;
      const atCrash = await progress();
      assert.equal(atCrash?.done, false, 'killed in the middle of the copy');
      const writesAtCrash = writes;
      await waitFor('writes while the replicator is down', async () => writes > writesAtCrash + 50);

      const second = await startReplicator(asReplicator);
      try {
        const crashedAt = atCrash?.n ?? 0;
        const next = await waitFor('the copy moving on', async () => {
          const p = await progress();
          return p && p.n !== crashedAt ? p : undefined;
        });
        assert.ok(next.n > crashedAt, `resumed after its last chunk (${crashedAt}), not from the start (${next.n})`);
        await waitFor('the copy done', async () => (await progress())?.done === true, 180_000);
      } finally {
        writing = false;
        await Promise.all(running);
        await writers.end();
      }
      const expected = await digest(servers.primarySql);
      await waitFor('replica equal to primary', async () => (await digest(servers.replicaSql)).d === expected.d, 60_000);
      assert.ok(expected.n > ROWS * 0.9);
      await second.stop();
    } finally {
      writing = false;
    }
  });
});

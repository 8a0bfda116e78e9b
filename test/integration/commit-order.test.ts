/**
 * Batches follow commit visibility, not change ids: a transaction that took
 * its ids first but commits last is neither skipped nor applied early, and
 * each primary transaction lands on the replica whole.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Service } from '../../src/service.js';
import { TEST_LOGICAL } from '../support/capture-mode.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

describe('commit-consistent batches', () => {
  let servers: TestServers;
  let service: Service;

  before(async () => {
    servers = await startTestServers();
    service = await startInProcess(servers);
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  const replicaEmails = async () =>
    (await servers.replicaSql.query<{ email: string }>('SELECT email FROM users ORDER BY email')).rows.map((r) => r.email);

  it('replicates a late commit that holds lower change ids', async () => {
    const a = new pg.Client(servers.primaryUrl);
    await a.connect();
    try {
      await a.query('BEGIN');
      await a.query("INSERT INTO users (name, email) VALUES ('A', 'a@late.example')");
      const idA = (await a.query('SELECT max(change_id)::int AS id FROM user_changes')).rows[0].id;
      await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('B', 'b@early.example')");
      const idB = (await servers.primarySql.query('SELECT max(change_id)::int AS id FROM user_changes')).rows[0].id;
      // (Logical mode writes no change log: there the WAL's commit order is the whole story.)
      if (!TEST_LOGICAL) assert.ok(idA < idB, 'A holds the lower change id');
      await waitFor('B on the replica', async () => (await replicaEmails()).includes('b@early.example'));
      assert.ok(!(await replicaEmails()).includes('a@late.example'), 'A is not visible before it commits');
      await a.query('COMMIT');
    } finally {
      await a.end();
    }
    await waitFor('A on the replica', async () => (await replicaEmails()).includes('a@late.example'));
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
    await waitFor('all acknowledged', async () => {
      const r = await servers.primarySql.query('SELECT count(*)::int AS n FROM user_changes WHERE NOT processed');
      return r.rows[0].n === 0;
    });
  });

  it('never shows half of a primary transaction on the replica', async () => {
    // A watcher on the replica samples the count of a transaction's rows while
    // it replicates: it may see 0 or all 500, never a part.
    const seen = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const { rows } = await servers.replicaSql.query("SELECT count(*)::int AS n FROM users WHERE email LIKE '%@tx.example'");
        seen.add(rows[0].n);
      }
    })();
    await servers.primarySql.query(
      "INSERT INTO users (name, email) SELECT 'tx ' || g, 'u' || g || '@tx.example' FROM generate_series(1, 500) g",
    );
    await waitFor('the transaction on the replica', async () => seen.has(500));
    watching = false;
    await watcher;
    assert.deepEqual(
      [...seen].filter((n) => n !== 0 && n !== 500),
      [],
    );
  });

  it('applies a unique value swapped between two rows in one transaction', async () => {
    await servers.primarySql.query(
      "INSERT INTO users (name, email) VALUES ('Swap1', 'one@swap.example'), ('Swap2', 'two@swap.example')",
    );
    await waitFor('both on the replica', async () => (await replicaEmails()).includes('two@swap.example'));
    await servers.primarySql.query(`BEGIN;
      UPDATE users SET email = 'tmp@swap.example' WHERE name = 'Swap1';
      UPDATE users SET email = 'one@swap.example' WHERE name = 'Swap2';
      UPDATE users SET email = 'two@swap.example' WHERE name = 'Swap1';
      COMMIT;`);
    await waitFor('the swap on the replica', async () => {
      const { rows } = await servers.replicaSql.query("SELECT email FROM users WHERE name = 'Swap1'");
      return rows[0]?.email === 'two@swap.example';
    });
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
  });

  it('applies primary-key updates and TRUNCATE', async () => {
    await servers.primarySql.query("UPDATE users SET user_id = user_id + 100000 WHERE name IN ('A', 'B')");
    await waitFor('moved keys', async () => {
      const { rows } = await servers.replicaSql.query('SELECT count(*)::int AS n FROM users WHERE user_id > 100000');
      return rows[0].n === 2;
    });
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
    await servers.primarySql.query("TRUNCATE users; INSERT INTO users (name, email) VALUES ('After', 'after@truncate.example')");
    await waitFor('truncate then insert', async () => (await replicaEmails()).join() === 'after@truncate.example');
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
  });
});

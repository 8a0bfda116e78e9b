/**
 * Every path a real application writes reaches the replica exactly, or
 * replication stops with a clear error: never a silent divergence. Each test
 * takes one path found in review: partitions written directly (at every
 * level, attached later, truncated), a table dropped and created again,
 * capture triggers disabled, a session with session_replication_role =
 * replica, DDL with changes in flight, values JSON and arrays lose, keys equal
 * but spelled differently, a refused add, TRUNCATE of a table the replica
 * references, rows too wide to batch in memory, TABLES after a remove, and
 * re-adding an emptied table.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { TEST_LOGICAL } from '../support/capture-mode.js';
import { runCli } from '../support/cli.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

describe('no silent divergence', () => {
  let servers: TestServers;
  let service: Service;
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers();
    env = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms', BATCH_BYTES: '256kB', AUTO_ADD_COLUMNS: 'true' }, true);
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  const same = async (table: string) =>
    JSON.stringify(await tableText(servers.replicaSql, table)) === JSON.stringify(await tableText(servers.primarySql, table));
  const add = async (...args: string[]) => {
    const r = await runCli(['add', ...args, '--no-wait'], env);
    assert.equal(r.code, 0, r.stderr);
    return r;
  };
  const failingWith = (pattern: RegExp) =>
    waitFor(
      `replication to stop with ${pattern}`,
      async () => service.status.state === 'failing' && pattern.test(service.status.lastError ?? ''),
    );
  const running = () => waitFor('replication to run again', async () => service.status.state === 'running');

  it('partitions written directly, at every level, attached later, truncated', async () => {
    await servers.primarySql.query(`
      CREATE TABLE m (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY LIST (id);
      CREATE TABLE m_2025_low PARTITION OF m_2025 FOR VALUES IN (1, 2, 3);
      CREATE TABLE m_2025_other PARTITION OF m_2025 DEFAULT;
      INSERT INTO m VALUES (1, '2025-02-02', 'root'), (7, '2025-03-03', 'root');`);
    await add('m');
    await servers.primarySql.query(`
      CREATE TABLE m_2026 PARTITION OF m FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      CREATE TABLE m_2027 (LIKE m); ALTER TABLE m ATTACH PARTITION m_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
      INSERT INTO m_2025_low VALUES (2, '2025-05-05', 'leaf');
      INSERT INTO m_2025 VALUES (8, '2025-06-06', 'middle');
      INSERT INTO m_2026 VALUES (1, '2026-02-02', 'attached later'), (9, '2026-03-03', 'x');
      INSERT INTO m_2027 VALUES (4, '2027-01-01', 'attached table');
      UPDATE m_2025_other SET v = 'updated in a leaf';
      UPDATE m SET at = '2026-04-04' WHERE id = 2;
      DELETE FROM m_2026 WHERE id = 9;`);
    await waitFor('partitions replicated', () => same('m'));
    // TRUNCATE of a partition (range and list), directly.
    await servers.primarySql.query(
      "TRUNCATE m_2025_low; TRUNCATE m_2026; INSERT INTO m_2026 VALUES (5, '2026-05-05', 'after truncate')",
    );
    await waitFor('partition truncates replicated', () => same('m'));
    assert.deepEqual(await tableText(servers.replicaSql, 'm'), [
      '(4,2027-01-01,"attached table")',
      '(5,2026-05-05,"after truncate")',
      '(7,2025-03-03,"updated in a leaf")',
      '(8,2025-06-06,"updated in a leaf")',
    ]);
    // Rows that enter or leave with a partition, no statement to capture: the table is copied afresh.
    await servers.primarySql.query(`
      CREATE TABLE m_2028 (LIKE m); INSERT INTO m_2028 VALUES (6, '2028-06-06', 'came with its partition');
      ALTER TABLE m ATTACH PARTITION m_2028 FOR VALUES FROM ('2028-01-01') TO ('2029-01-01')`);
    await waitFor("the attached partition's rows", () => same('m'));
    await servers.primarySql.query('ALTER TABLE m DETACH PARTITION m_2027; DROP TABLE m_2026');
    await waitFor("the detached and dropped partitions' rows gone", () => same('m'));
    assert.deepEqual(await tableText(servers.replicaSql, 'm'), [
      '(6,2028-06-06,"came with its partition")',
      '(7,2025-03-03,"updated in a leaf")',
      '(8,2025-06-06,"updated in a leaf")',
    ]);
  });

  it('writes made with session_replication_role = replica are captured too', async () => {
    await servers.primarySql.query(`SET session_replication_role = replica;
      INSERT INTO users (name, email) VALUES ('Quiet', 'quiet@example.com');
      RESET session_replication_role;`);
    await waitFor('the quiet write replicated', () => same('users'));
  });

  it('a table dropped and created again, or its capture disabled, stops replication until resynced', async () => {
    await servers.primarySql.query("CREATE TABLE phoenix (id int PRIMARY KEY, v text); INSERT INTO phoenix VALUES (1, 'a')");
    await add('phoenix');
    await waitFor('phoenix copied', () => same('phoenix'));
    await servers.primarySql.query(
      "DROP TABLE phoenix; CREATE TABLE phoenix (id int PRIMARY KEY, v text); INSERT INTO phoenix VALUES (2, 'b')",
    );
    await failingWith(/phoenix was dropped and created again.*replicator resync phoenix/);
    const resync = await runCli(['resync', 'phoenix', '--no-wait'], env);
    assert.equal(resync.code, 0, resync.stderr);
    await running();
    await waitFor('phoenix resynced', () => same('phoenix'));

    await servers.primarySql.query("ALTER TABLE phoenix DISABLE TRIGGER ALL; INSERT INTO phoenix VALUES (3, 'unseen')");
    if (TEST_LOGICAL) {
      // Logical capture reads the WAL: triggers, enabled or not, have no say.
      await waitFor('the write with triggers disabled replicated', () => same('phoenix'));
      await servers.primarySql.query('ALTER TABLE phoenix ENABLE TRIGGER ALL');
      return;
    }
    await failingWith(/capture triggers of phoenix .* disabled/);
    await servers.primarySql.query('ALTER TABLE phoenix ENABLE TRIGGER ALL');
    assert.equal((await runCli(['resync', 'phoenix', '--no-wait'], env)).code, 0);
    await running();
    await waitFor('phoenix resynced again', () => same('phoenix'));
  });

  it('ADD COLUMN with changes in flight, with and without a default, reaches every row', async () => {
    await servers.primarySql.query('CREATE TABLE growing (id int PRIMARY KEY, v int)');
    await add('growing');
    let stop = false;
    let n = 0;
    const writer = (async () => {
      while (!stop) {
        n++;
        await servers.primarySql.query('INSERT INTO growing (id, v) VALUES ($1, $1)', [n]);
        if (n === 40) await servers.primarySql.query("ALTER TABLE growing ADD COLUMN tag text DEFAULT 'seven'");
        if (n > 40) await servers.primarySql.query("UPDATE growing SET tag = 'changed' WHERE id = $1", [n - 1]);
      }
    })();
    await waitFor('enough writes', async () => n > 120);
    stop = true;
    await writer;
    await servers.primarySql.query('ALTER TABLE growing ADD COLUMN later int; UPDATE growing SET later = id WHERE id % 3 = 0');
    await waitFor('growing replicated with its new columns', () => same('growing'), 30_000);
  });

  it('a column renamed with changes pending pauses replication with the fix, AUTO_ADD_COLUMNS or not', async () => {
    await servers.primarySql.query('CREATE TABLE renamed (id int PRIMARY KEY, old_name text)');
    await add('renamed');
    await servers.primarySql.query(
      "INSERT INTO renamed VALUES (1, 'a'); ALTER TABLE renamed RENAME COLUMN old_name TO new_name; INSERT INTO renamed VALUES (2, 'b')",
    );
    await failingWith(/renamed has no column new_name.*RENAME COLUMN "old_name" TO "new_name"/);
    await servers.replicaSql.query('ALTER TABLE renamed RENAME COLUMN old_name TO new_name');
    await waitFor('renamed replicated', () => same('renamed'));
  });

  it('a primary key redefined on the primary stops replication until both sides agree', async () => {
    await servers.primarySql.query('CREATE TABLE rekeyed (a int NOT NULL, b int NOT NULL, v text, PRIMARY KEY (a))');
    await add('rekeyed');
    await servers.primarySql.query(
      "ALTER TABLE rekeyed DROP CONSTRAINT rekeyed_pkey, ADD PRIMARY KEY (a, b); INSERT INTO rekeyed VALUES (1, 1, 'x')",
    );
    await failingWith(/primary key of rekeyed changed from \(a\) to \(a, b\)/);
    await servers.replicaSql.query('ALTER TABLE rekeyed DROP CONSTRAINT rekeyed_pkey, ADD PRIMARY KEY (a, b)');
    assert.equal((await runCli(['resync', 'rekeyed', '--no-wait'], env)).code, 0);
    await running();
    await waitFor('rekeyed replicated', () => same('rekeyed'));
  });

  it('values JSON would change: JSON null, array bounds, money', async () => {
    for (const sql of [servers.primarySql, servers.replicaSql]) await sql.query("SET lc_monetary = 'C'");
    await servers.primarySql.query(`
      CREATE TABLE odd_values (id int PRIMARY KEY, j json, jb jsonb, a int[], m money)`);
    await add('odd_values');
    await servers.primarySql.query(`INSERT INTO odd_values VALUES
      (1, 'null', 'null', '[0:2]={1,2,3}', '12.34'), (2, NULL, NULL, '{}', NULL), (3, '[null, 1]', '{"a": null}', '[-1:-1]={7}', '-0.01')`);
    await waitFor('odd values replicated', () => same('odd_values'));
    const { rows } = await servers.replicaSql.query(
      'SELECT j IS NULL AS j_null, jb IS NULL AS jb_null, array_lower(a, 1) AS lo FROM odd_values WHERE id = 1',
    );
    assert.deepEqual(rows[0], { j_null: false, jb_null: false, lo: 0 });
  });

  it('keys equal under = but spelled differently take the primary spelling, also within one transaction', async () => {
    await servers.primarySql.query(
      'CREATE TABLE amounts (k numeric PRIMARY KEY, v text); CREATE TABLE floats (k float8 PRIMARY KEY, v text)',
    );
    await add('amounts', 'floats');
    await servers.primarySql.query("INSERT INTO amounts VALUES (1.0, 'a'); INSERT INTO floats VALUES (0, 'zero')");
    await waitFor('first spellings', async () => (await same('amounts')) && (await same('floats')));
    await servers.primarySql.query("UPDATE amounts SET k = 1.00 WHERE k = 1; UPDATE floats SET k = '-0' WHERE k = 0");
    await servers.primarySql.query(
      "BEGIN; DELETE FROM amounts; INSERT INTO amounts VALUES (2.0, 'b'); UPDATE amounts SET k = 2.000 WHERE k = 2; INSERT INTO amounts VALUES (3, 'c'); DELETE FROM amounts WHERE k = 3; INSERT INTO amounts VALUES (3.00, 'c'); COMMIT",
    );
    await waitFor('the primary spellings', async () => (await same('amounts')) && (await same('floats')));
    assert.deepEqual(await tableText(servers.replicaSql, 'amounts'), ['(2.000,b)', '(3.00,c)']);
    assert.deepEqual(await tableText(servers.replicaSql, 'floats'), ['(-0,zero)']);
  });

  it('a refused add leaves the replication set as it was, and the others keep replicating', async () => {
    await servers.primarySql.query('CREATE TABLE mismatched (id int PRIMARY KEY, v int)');
    await servers.replicaSql.query('CREATE TABLE mismatched (id int PRIMARY KEY, v text)');
    const refused = await runCli(['add', 'mismatched'], env);
    assert.equal(refused.code, 4, refused.stdout);
    assert.match(refused.stderr, /column mismatched\.v is text but integer on the primary/);
    const list = await runCli(['list'], env);
    assert.doesNotMatch(list.stdout, /mismatched/);
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Still', 'still@example.com')");
    await waitFor('users still replicating', () => same('users'));
  });

  it('TRUNCATE of a table that replica tables reference', async () => {
    await servers.primarySql.query('CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent VALUES (1), (2)');
    await add('parent');
    await servers.replicaSql.query('CREATE TABLE child_here (id int PRIMARY KEY, parent_id int REFERENCES parent (id))');
    await waitFor('parent copied', () => same('parent'));
    await servers.primarySql.query('TRUNCATE parent; INSERT INTO parent VALUES (3)');
    await waitFor('parent truncated on the replica', () => same('parent'));
  });

  it('rows too wide to batch in memory are streamed, not retried forever', async () => {
    await servers.primarySql.query('CREATE TABLE wide (id int PRIMARY KEY, body text)');
    await add('wide');
    await servers.primarySql.query('INSERT INTO wide SELECT g, repeat(md5(g::text), 3500) FROM generate_series(1, 60) g');
    await waitFor('wide rows replicated', () => same('wide'), 30_000);
  });

  it('re-adding a table that is empty now clears the rows the replica kept', async () => {
    await servers.primarySql.query('CREATE TABLE readded (id int PRIMARY KEY); INSERT INTO readded VALUES (1), (2)');
    await add('readded');
    await waitFor('readded copied', () => same('readded'));
    assert.equal((await runCli(['remove', 'readded'], env)).code, 0);
    await servers.primarySql.query('DELETE FROM readded');
    await add('readded');
    await waitFor('stale rows gone', async () => (await tableText(servers.replicaSql, 'readded')).length === 0);
  });

  it('sync-sequences moves the replica sequences of serial and identity columns up to the primary, never down', async () => {
    const ddl = (identity: string) =>
      `CREATE TABLE seqs (id bigserial PRIMARY KEY, n int GENERATED ${identity} AS IDENTITY, v text)`;
    await servers.primarySql.query(ddl('ALWAYS'));
    await servers.replicaSql.query(ddl('BY DEFAULT')); // an update from the primary must be able to set it
    await add('seqs');
    await servers.primarySql.query("INSERT INTO seqs (v) SELECT 'x' FROM generate_series(1, 5)");
    await waitFor('seqs replicated', () => same('seqs'));
    const synced = await runCli(['sync-sequences', 'seqs'], env);
    assert.equal(synced.code, 0, synced.stderr);
    assert.match(synced.stdout, /seqs\.id: public\.seqs_id_seq set to 5 \(was at its start\)/);
    assert.match(synced.stdout, /seqs\.n: public\.seqs_n_seq set to 5 \(was at its start\)/);
    // After a failover, an insert on the replica takes the next values: no collision.
    const row = await servers.replicaSql.query("INSERT INTO seqs (v) VALUES ('after failover') RETURNING id, n");
    assert.deepEqual(row.rows[0], { id: '6', n: 6 });
    const again = await runCli(['sync-sequences', 'seqs'], env);
    assert.match(again.stdout, /seqs_id_seq at 6, already at or past the primary's 5/);
    await servers.replicaSql.query("DELETE FROM seqs WHERE v = 'after failover'");
  });

  it('TABLES does not add back a table the user removed', async () => {
    await servers.primarySql.query('CREATE TABLE listed (id int PRIMARY KEY)');
    await add('listed');
    assert.equal((await runCli(['remove', 'listed'], env)).code, 0);
    await service.stop();
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms', TABLES: 'listed', AUTO_ADD_COLUMNS: 'true' }, true);
    await running();
    const list = await runCli(['list'], env);
    assert.doesNotMatch(list.stdout, /listed/);
  });
});

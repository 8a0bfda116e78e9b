/**
 * Partitioned tables in logical mode, as the least-privilege login: rows
 * written through the root or naming a partition at any level (a
 * sub-partitioned one included), rows moved between partitions; a TRUNCATE of
 * one partition in the middle of a transaction (lines before it in that
 * partition dropped, the ones after kept), of a sub-partitioned partition and
 * of the root; a partition created after the table was added (its rows and
 * its TRUNCATE); partitions attached with rows, detached and dropped (the
 * table copied afresh); a forged TRUNCATE message clears nothing; a
 * transaction of new rows naming every level goes in by one COPY through the
 * replica's root. Every
 * step changes the table, and every row's row::text is compared on both sides.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addTable } from '../../src/capture/replication-set.js';
import { Database } from '../../src/db/database.js';
import type { Service } from '../../src/service.js';
import { BYSTANDER } from '../support/bystander-traps.js';
import { REPLICATOR_ROLE, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

const ORDER = 'id, region, sub';

describe('logical mode: partitioned tables', () => {
  let servers: TestServers;
  let service: Service;

  const rows = (side: 'primary' | 'replica') =>
    tableText(side === 'primary' ? servers.primarySql : servers.replicaSql, 'readings', ORDER);
  /** Until the replica's readings equal the primary's, row by row; then they are returned. */
  const converged = async (what: string) => {
    await waitFor(
      `readings equal on both sides (${what})`,
      async () => JSON.stringify(await rows('primary')) === JSON.stringify(await rows('replica')),
      60_000,
    ).catch(async (error) => {
      const [p, r] = await Promise.all([rows('primary'), rows('replica')]);
      throw new Error(
        `${(error as Error).message}; last error: ${service.status.lastError}; primary ${p.join(' ')}; replica ${r.join(' ')}`,
      );
    });
    const [p, r] = await Promise.all([rows('primary'), rows('replica')]);
    assert.deepEqual(r, p);
    return r;
  };
  const copyRequestedAt = async () =>
    (
      await servers.primarySql.query<{ at: string }>(
        "SELECT copy_requested_at::text AS at FROM replicator.tables WHERE table_name = 'readings'",
      )
    ).rows[0]?.at;

  before(async () => {
    servers = await startLogicalServers();
    await servers.primarySql.query(`
      CREATE TABLE readings (id int, region text, sub int, v text, PRIMARY KEY (id, region, sub)) PARTITION BY LIST (region);
      CREATE TABLE readings_eu PARTITION OF readings FOR VALUES IN ('eu') PARTITION BY RANGE (sub);
      CREATE TABLE readings_eu_lo PARTITION OF readings_eu FOR VALUES FROM (0) TO (10);
      CREATE TABLE readings_eu_hi PARTITION OF readings_eu FOR VALUES FROM (10) TO (100);
      CREATE TABLE readings_us PARTITION OF readings FOR VALUES IN ('us');
      INSERT INTO readings VALUES (1, 'eu', 1, 'a'), (2, 'eu', 20, 'b'), (3, 'us', 0, 'c');`);
    const owner = {
      primary: new Database({ url: servers.primaryUrl, role: 'primary' }),
      replica: new Database({ url: servers.replicaUrl, role: 'replica' }),
    };
    try {
      await addTable(owner.primary, owner.replica, 'public.readings');
    } finally {
      await Promise.all([owner.primary.end(), owner.replica.end()]);
    }
    service = await startInProcess(servers, LOGICAL_ENV);
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  it('publishes the root via itself, copies it, and streams writes through the root and naming partitions at every level', async () => {
    const publication = await servers.primarySql.query(
      "SELECT pubviaroot, (SELECT array_agg(tablename::text ORDER BY tablename) FROM pg_publication_tables t WHERE t.pubname = p.pubname) AS tables FROM pg_publication p WHERE pubname = 'pg_replicator'",
    );
    assert.deepEqual(publication.rows, [{ pubviaroot: true, tables: ['readings', 'users'] }]);
    assert.equal((await converged('initial copy')).length, 3);
    await servers.primarySql.query(`
      INSERT INTO readings_eu_lo VALUES (4, 'eu', 2, 'leaf');
      INSERT INTO readings_eu VALUES (5, 'eu', 30, 'middle');
      INSERT INTO readings_us VALUES (6, 'us', 1, 'us leaf');
      UPDATE readings_eu_hi SET v = 'b2' WHERE id = 2;
      UPDATE readings SET region = 'us' WHERE id = 1;             -- eu_lo -> us
      UPDATE readings_eu SET sub = 40 WHERE id = 4;               -- eu_lo -> eu_hi, naming the middle level
      DELETE FROM readings_us WHERE id = 3;`);
    assert.deepEqual(await converged('writes'), [
      '(1,us,1,a)',
      '(2,eu,20,b2)',
      '(4,eu,40,leaf)',
      '(5,eu,30,middle)',
      '(6,us,1,"us leaf")',
    ]);
    // The row capture is off in logical mode: writers pay nothing, the change log stays empty.
    const logged = await servers.primarySql.query(
      "SELECT count(*)::int AS n FROM replicator.readings_changes WHERE operation <> 'TRUNCATE'",
    );
    assert.equal(logged.rows[0].n, 0);
  });

  it('applies a TRUNCATE of one partition where it happened in its transaction', async () => {
    await servers.primarySql.query(`
      INSERT INTO readings VALUES (10, 'eu', 3, 'old lo'), (11, 'eu', 50, 'old hi'), (12, 'us', 5, 'old us');
      BEGIN;
      INSERT INTO readings VALUES (20, 'eu', 4, 'before, gone'), (21, 'eu', 60, 'before, hi'), (22, 'us', 6, 'before, us');
      UPDATE readings SET v = 'updated before, gone' WHERE id = 10;
      UPDATE readings SET region = 'eu', sub = 7 WHERE id = 12;   -- us -> eu_lo, then truncated
      UPDATE readings SET sub = 70 WHERE id = 20;                -- eu_lo -> eu_hi before the TRUNCATE: kept
      INSERT INTO readings VALUES (23, 'eu', 8, 'before, gone too');
      TRUNCATE readings_eu_lo;
      INSERT INTO readings_eu_lo VALUES (24, 'eu', 1, 'after');
      INSERT INTO readings VALUES (23, 'eu', 8, 'after, same key'), (25, 'us', 9, 'after, us');
      UPDATE readings SET v = 'hi, after' WHERE id = 11;
      COMMIT;`);
    const replica = await converged('TRUNCATE of readings_eu_lo mid-transaction');
    assert.deepEqual(
      replica.filter((r) => /,eu,[0-9],/.test(r)),
      ['(23,eu,8,"after, same key")', '(24,eu,1,after)'],
    );
    assert.ok(replica.includes('(20,eu,70,"before, gone")'));
    assert.ok(replica.includes('(22,us,6,"before, us")'));
  });

  it('applies a TRUNCATE of a sub-partitioned partition and of the root', async () => {
    await servers.primarySql.query(`
      BEGIN;
      INSERT INTO readings VALUES (30, 'eu', 9, 'lo, gone'), (31, 'eu', 90, 'hi, gone'), (32, 'us', 7, 'us, kept');
      TRUNCATE readings_eu;
      INSERT INTO readings VALUES (33, 'eu', 15, 'eu after');
      COMMIT;`);
    const replica = await converged('TRUNCATE of readings_eu');
    assert.deepEqual(
      replica.filter((r) => r.includes(',eu,')),
      ['(33,eu,15,"eu after")'],
    );
    await servers.primarySql.query(`
      BEGIN;
      INSERT INTO readings VALUES (40, 'us', 1, 'gone');
      TRUNCATE readings;
      INSERT INTO readings VALUES (41, 'us', 2, 'root after'), (42, 'eu', 3, 'lo after');
      COMMIT;`);
    assert.deepEqual(await converged('TRUNCATE of the root'), ['(41,us,2,"root after")', '(42,eu,3,"lo after")']);
  });

  it('follows a partition created after the table was added: its rows, then its TRUNCATE', async () => {
    await servers.primarySql.query(`
      CREATE TABLE readings_asia PARTITION OF readings FOR VALUES IN ('asia');
      INSERT INTO readings VALUES (50, 'asia', 1, 'asia'), (51, 'asia', 2, 'asia too');`);
    await converged('rows of a new partition');
    // Statement triggers are not cloned: the replicator adds the new partition's TRUNCATE trigger.
    await waitFor(
      'the TRUNCATE trigger on readings_asia',
      async () =>
        (
          await servers.primarySql.query(
            "SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'readings_asia'::regclass AND tgname = 'replicator_capture_truncate'",
          )
        ).rows[0]?.tgenabled === 'A',
      30_000,
    );
    await servers.primarySql.query(
      `BEGIN; TRUNCATE readings_asia; INSERT INTO readings VALUES (52, 'asia', 3, 'asia after'); COMMIT`,
    );
    assert.deepEqual(await converged('TRUNCATE of the new partition'), [
      '(41,us,2,"root after")',
      '(42,eu,3,"lo after")',
      '(52,asia,3,"asia after")',
    ]);
  });

  it('copies the table afresh when a partition is attached with rows, detached or dropped', async () => {
    await servers.primarySql.query(`
      CREATE TABLE readings_sa (id int NOT NULL, region text NOT NULL, sub int NOT NULL, v text);
      INSERT INTO readings_sa VALUES (60, 'sa', 1, 'attached with rows'), (61, 'sa', 2, 'attached too');
      ALTER TABLE readings ATTACH PARTITION readings_sa FOR VALUES IN ('sa');`);
    let replica = await converged('attached with rows');
    assert.ok(replica.includes('(60,sa,1,"attached with rows")'));
    await servers.primarySql.query('ALTER TABLE readings DETACH PARTITION readings_us');
    replica = await converged('detached');
    assert.ok(!replica.some((r) => r.includes(',us,')));
    await servers.primarySql.query('DROP TABLE readings_asia');
    replica = await converged('dropped');
    assert.deepEqual(replica, ['(42,eu,3,"lo after")', '(60,sa,1,"attached with rows")', '(61,sa,2,"attached too")']);
    // And it streams on after the copies.
    await servers.primarySql.query("INSERT INTO readings_sa VALUES (62, 'sa', 3, 'streamed')");
    assert.equal((await converged('after the copies')).length, 4);
  });

  it('clears nothing on a forged TRUNCATE message: the table is copied afresh instead', async () => {
    // A real TRUNCATE's change id, replayed by someone who may write logical messages (anyone).
    await servers.primarySql.query(
      "BEGIN; TRUNCATE readings_eu_lo; INSERT INTO readings VALUES (70, 'eu', 80, 'hi'), (71, 'eu', 1, 'lo'); COMMIT",
    );
    await converged('a real TRUNCATE');
    const { rows: real } = await servers.primarySql.query<{ change_id: string; root: string; part: string }>(`
      SELECT max(change_id)::text AS change_id, 'readings'::regclass::oid::text AS root, 'readings_eu_hi'::regclass::oid::text AS part
      FROM replicator.readings_changes WHERE operation = 'TRUNCATE' AND relid = 'readings_eu_lo'::regclass`);
    const claim = real[0] as { change_id: string; root: string; part: string };
    assert.ok(claim.change_id);
    const before = await copyRequestedAt();
    await servers.primarySql.query(`SET ROLE ${BYSTANDER}`);
    try {
      for (const part of [
        claim.part,
        (await servers.primarySql.query("SELECT 'readings_eu_lo'::regclass::oid::text AS o")).rows[0].o,
      ]) {
        await servers.primarySql.query("SELECT pg_logical_emit_message(true, 'pg-replicator-truncate', $1)", [
          `${claim.root} ${part} ${claim.change_id}`,
        ]);
      }
    } finally {
      await servers.primarySql.query('RESET ROLE');
    }
    await waitFor('a copy requested', async () => (await copyRequestedAt()) !== before, 30_000);
    // Rows in both partitions the messages named are still on the replica.
    await servers.primarySql.query("INSERT INTO readings VALUES (72, 'sa', 9, 'after the forgery')");
    const replica = await converged('after a forged message');
    assert.ok(replica.includes('(70,eu,80,hi)'));
    assert.ok(replica.includes('(71,eu,1,lo)'));
  });

  it('applies a transaction of new rows naming partitions at every level by one COPY through the root', async () => {
    // The fresh copy the forged message asked for is over first (it rewrites every row).
    const requested = await copyRequestedAt();
    await waitFor(
      'the fresh copy done',
      async () =>
        (
          await servers.replicaSql.query(
            "SELECT done AND requested_at = $1::timestamptz AS over FROM replicator.copy_progress WHERE table_name = 'readings'",
            [requested],
          )
        ).rows[0]?.over === true,
      60_000,
    );
    // Which statement wrote each row on the replica (an ALWAYS trigger on the root reaches every partition).
    await servers.replicaSql.query(`CREATE TABLE public.readings_seen (q text);
      CREATE FUNCTION public.readings_note() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO public.readings_seen VALUES (pg_catalog.current_query()); RETURN NULL; END $$;
      CREATE TRIGGER note AFTER INSERT OR UPDATE ON public.readings FOR EACH ROW EXECUTE FUNCTION public.readings_note();
      ALTER TABLE public.readings ENABLE ALWAYS TRIGGER note;
      GRANT INSERT ON public.readings_seen TO ${REPLICATOR_ROLE}`);
    await servers.primarySql.query(`BEGIN;
      INSERT INTO readings_eu_lo VALUES (80, 'eu', 3, 'leaf');
      INSERT INTO readings_eu VALUES (81, 'eu', 50, E'middle\\ttab');
      INSERT INTO readings VALUES (82, 'sa', 2, NULL), (83, 'eu', 60, 'root');
      COMMIT`);
    const replica = await converged('new rows naming every level');
    for (const row of ['(80,eu,3,leaf)', '(81,eu,50,"middle\ttab")', '(82,sa,2,)', '(83,eu,60,root)']) {
      assert.ok(replica.includes(row), row);
    }
    const seen = await servers.replicaSql.query<{ q: string }>('SELECT q FROM public.readings_seen');
    assert.equal(seen.rows.length, 4, 'each row written once');
    assert.ok(
      seen.rows.every((r) => r.q.startsWith('COPY')),
      seen.rows.map((r) => r.q.slice(0, 40)).join(' | '),
    );
  });
});

/**
 * Every built-in type a user stores, at its awkward values, through both
 * paths (the initial COPY and the change stream): the replica's row::text
 * equals the primary's after inserts, updates and deletes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { runCli } from '../support/cli.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

const TYPES = `
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy ''quoted''');
  CREATE TYPE pair AS (x int, y text);`;

const TABLE = `
  CREATE TABLE all_types (
    id int PRIMARY KEY,
    c_smallint smallint, c_integer integer, c_bigint bigint, c_numeric numeric, c_real real, c_double double precision,
    c_boolean boolean, c_text text, c_varchar varchar(12), c_char char(5), c_bytea bytea,
    c_date date, c_time time, c_timetz timetz, c_timestamp timestamp, c_timestamptz timestamptz, c_interval interval,
    c_uuid uuid, c_json json, c_jsonb jsonb, c_inet inet, c_cidr cidr, c_macaddr macaddr, c_varbit bit varying,
    c_tsvector tsvector, c_point point, c_int4range int4range, c_tstzrange tstzrange, c_enum mood, c_composite pair,
    c_int_array int[], c_text_array text[], c_text_array_2d text[][], c_generated int GENERATED ALWAYS AS (id * 2) STORED
  )`;

// Row `id` with every column at an edge value (or all NULL when id is odd and > 100).
function rowSql(id: number): string {
  if (id > 100) return `INSERT INTO all_types (id) VALUES (${id})`;
  return `INSERT INTO all_types (id, c_smallint, c_integer, c_bigint, c_numeric, c_real, c_double, c_boolean, c_text, c_varchar, c_char,
      c_bytea, c_date, c_time, c_timetz, c_timestamp, c_timestamptz, c_interval, c_uuid, c_json, c_jsonb, c_inet, c_cidr, c_macaddr,
      c_varbit, c_tsvector, c_point, c_int4range, c_tstzrange, c_enum, c_composite, c_int_array, c_text_array, c_text_array_2d)
    VALUES (${id}, -32768, 2147483647, -9223372036854775808,
      ${id % 2 === 0 ? `('9' || repeat('8', 998) || '.5')::numeric` : `'NaN'`},
      ${id % 2 === 0 ? `'-0'` : `'NaN'`}, ${id % 2 === 0 ? `'-Infinity'` : `'Infinity'`}, ${id % 2 === 0},
      ${id % 2 === 0 ? `'unicode ☃ 🎉 "q" \\ ' || E'\\t\\n' || repeat('x', 1000000)` : `''`}, 'twelve chars', 'ab',
      (SELECT string_agg(set_byte('\\x00'::bytea, 0, b), ''::bytea ORDER BY b) FROM generate_series(0, 255) b),
      '2024-02-29', '23:59:59.999999', '12:00:00.000001+05:30', '2000-01-01 00:00:00.000001',
      ${id % 2 === 0 ? `'infinity'` : `'1999-12-31 23:59:59.123456-08'`}, '1 year -2 mons 3 days -04:05:06.789',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b" : 1,  "a":2, "a" : [3, {"z":null}] }', '{"b": 1.50, "a": [true, null]}',
      '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'10101', 'a fat cat:1A sat', '(1.5,-2.25)', '[1,10)',
      '["2024-01-01 00:00:00+00","2024-12-31 23:59:59.999999+00")', 'happy ''quoted''', ROW(1, 'with "quotes", commas'),
      '{1,NULL,-3}', ARRAY['a"b', NULL, 'c,d', '', 'NULL', E'back\\\\slash'], '{{a,b},{NULL,"d e"}}')`;
}

describe('exact values of every type', () => {
  let servers: TestServers;
  let service: Service;
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers();
    env = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    await servers.primarySql.query(TYPES + TABLE);
    await servers.replicaSql.query(TYPES);
    // Rows that exist before replication starts: they travel by COPY.
    for (const id of [1, 2, 101]) await servers.primarySql.query(rowSql(id));
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms' });
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  const same = async () =>
    JSON.stringify(await tableText(servers.replicaSql, 'all_types')) ===
    JSON.stringify(await tableText(servers.primarySql, 'all_types'));

  it('copies existing rows exactly', async () => {
    const added = await runCli(['add', 'all_types'], env);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /copying all_types: 3 of ~\d+ rows, done/, 'add follows the copy until it is done');
    await waitFor('the initial copy', async () => (await tableText(servers.replicaSql, 'all_types')).length === 3, 30_000);
    assert.ok(await same(), 'row::text equal after the copy');
  });

  it('streams inserts, updates and deletes exactly', async () => {
    // The writer's own session settings must not matter.
    await servers.primarySql.query(
      "SET datestyle = 'German'; SET intervalstyle = 'sql_standard'; SET timezone = 'Pacific/Chatham'",
    );
    await servers.primarySql.query("SET extra_float_digits = -3; SET bytea_output = 'escape'");
    for (const id of [3, 4, 103]) await servers.primarySql.query(rowSql(id));
    await servers.primarySql.query(
      `UPDATE all_types SET c_text = c_text || '!', c_real = 'NaN', c_json = '[1,  2]' WHERE id IN (2, 4)`,
    );
    await servers.primarySql.query('DELETE FROM all_types WHERE id = 1');
    await servers.primarySql.query('RESET ALL');
    await waitFor(
      'the stream',
      async () => (await tableText(servers.replicaSql, 'all_types')).length === 5 && (await same()),
      30_000,
    );
    const jsonText = await servers.replicaSql.query('SELECT c_json::text AS j FROM all_types WHERE id = 3');
    assert.equal(jsonText.rows[0].j, '{"b" : 1,  "a":2, "a" : [3, {"z":null}] }', 'json keeps whitespace, order, duplicates');
    const generated = await servers.replicaSql.query('SELECT c_generated FROM all_types WHERE id = 4');
    assert.equal(generated.rows[0].c_generated, 8, 'generated columns are computed by the replica');
  });
});

/**
 * Values JavaScript would mangle arrive byte-identical: a bigint key above
 * 2^53, microsecond timestamps, odd time zones, and text that needs escaping.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

describe('exact values', () => {
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

  it('keeps bigint above 2^53, microseconds and unicode exact', async () => {
    // The writer's session uses settings that change how values print; the
    // capture pins its own, so the replica still gets the exact values.
    await servers.primarySql.query(`
      SET datestyle = 'SQL, DMY'; SET timezone = 'Asia/Kolkata'; SET intervalstyle = 'sql_standard';
      INSERT INTO users (user_id, name, email, created_at, updated_at) VALUES
        (9007199254740993, 'Big ☃ "quoted" \\ back', 'big@values.example', '2024-02-29 23:59:59.999999+05:30', '1999-12-31 23:59:59.000001+00'),
        (9223372036854775807, E'tab\\tnew\\nline 🎉', 'max@values.example', 'infinity', '-infinity'),
        (-9223372036854775808, 'min', 'min@values.example', '0044-03-15 12:00:00.5 BC', now());
      RESET datestyle; RESET timezone; RESET intervalstyle;`);
    await waitFor('3 rows on the replica', async () => (await tableText(servers.replicaSql, 'users')).length === 3);
    const primaryRows = await tableText(servers.primarySql, 'users');
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), primaryRows);
    assert.ok(primaryRows.some((r) => r.startsWith('(9007199254740993,')));
    await servers.primarySql.query("UPDATE users SET name = name || '!' WHERE user_id = 9007199254740993");
    await waitFor('the update', async () => (await tableText(servers.replicaSql, 'users')).some((r) => r.includes('back!')));
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
  });

  it('replicates a 10 MB row', async () => {
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES (repeat('ab☃', 3500000), 'big@row.example')");
    const query = "SELECT length(name) AS n, md5(name) AS h FROM users WHERE email = 'big@row.example'";
    const expected = (await servers.primarySql.query(query)).rows[0];
    assert.ok(expected.n * 3 >= 10_000_000);
    await waitFor('the 10 MB row', async () => (await servers.replicaSql.query(query)).rows[0]?.h === expected.h);
  });

  it('replicates a large value full of what COPY escapes, byte for byte, inserted and updated', async () => {
    // Several MB: in logical mode such a value is escaped from the bytes the primary sent, in chunks.
    const value = (seed: string) => `repeat(E'${seed}\\\\x\\t\\n\\r☃🎉\\\\', 500000) || E'\\\\'`;
    await servers.primarySql.query(`INSERT INTO users (name, email) VALUES (${value('a')}, 'escapes@row.example')`);
    const query = "SELECT octet_length(name) AS n, md5(name) AS h FROM users WHERE email = 'escapes@row.example'";
    const inserted = (await servers.primarySql.query(query)).rows[0];
    assert.ok(inserted.n > 6_000_000);
    await waitFor('the large value', async () => (await servers.replicaSql.query(query)).rows[0]?.h === inserted.h);
    await servers.primarySql.query(`UPDATE users SET name = ${value('b')} WHERE email = 'escapes@row.example'`);
    const updated = (await servers.primarySql.query(query)).rows[0];
    assert.notEqual(updated.h, inserted.h);
    await waitFor('the large value, updated', async () => (await servers.replicaSql.query(query)).rows[0]?.h === updated.h);
    assert.deepEqual((await servers.replicaSql.query(query)).rows[0], updated);
  });
});

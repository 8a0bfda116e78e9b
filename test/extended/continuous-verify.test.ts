/**
 * Continuous verification inside the real `replicator run` (a child process,
 * least-privilege logins): a row changed, deleted or added on the replica
 * behind the replicator's back is reported in /status, /metrics and /health
 * ("degraded", still 200) with its table and key, and no longer once
 * `replicator verify --repair` fixed it; writers changing the primary while
 * the replica lags behind (its tables locked now and then) are never reported;
 * its work stays within VERIFY_SHARE, by its own account and by the CPU time
 * of its server backends; VERIFY_SHARE=0 turns it off.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { StatusSnapshot, VerifyTableStatus } from '../../src/replication/replication-status.js';
import { type RunningReplicator, runCli, startReplicator } from '../support/cli.js';
import { startTestServers, type TestServers, waitFor } from '../support/servers.js';

const ITEMS_ROWS = 30_000;
const LINES = '"Sales"."Order Lines"';

/** `name{labels} value` lines → Map of `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** CPU seconds (user + system) a process has used, from /proc (the servers' backends run as another user; stat is readable). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime), in clock ticks of 1/100 s on Linux.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('continuous verification', () => {
  let servers: TestServers;
  let replicator: RunningReplicator | undefined;
  let env: Record<string, string>;
  let ownerEnv: Record<string, string>;

  const status = async () => (await replicator?.status()) as unknown as StatusSnapshot;
  const verifyOf = async (table: string): Promise<VerifyTableStatus | undefined> =>
    (await status()).verify?.tables.find((t) => t.table === table);
  const health = async () => {
    const response = await fetch(`${replicator?.apiUrl}/health`);
    return { code: response.status, body: (await response.json()) as { status: string; reason?: string } };
  };
  const metrics = async () => parseMetrics(await (await fetch(`${replicator?.apiUrl}/metrics`)).text());
  const restart = async (extra: Record<string, string>) => {
    await replicator?.stop();
    replicator = await startReplicator({ ...env, ...extra });
  };
  /** Until every table has finished `n` more full passes than in `since`. */
  const passes = async (n: number, since: StatusSnapshot | undefined, timeoutMs = 60_000) =>
    waitFor(
      `${n} more full passes of every table`,
      async () => {
        const now = (await status()).verify?.tables ?? [];
        const before = since?.verify?.tables ?? [];
        return (
          now.length === 3 && now.every((t) => t.full_passes >= (before.find((b) => b.table === t.table)?.full_passes ?? 0) + n)
        );
      },
      timeoutMs,
    );

  before(async () => {
    servers = await startTestServers();
    await servers.primarySql.query(`
      CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text);
      INSERT INTO items SELECT g, g % 97, 'row ' || g FROM generate_series(1, ${ITEMS_ROWS}) g;
      CREATE SCHEMA "Sales";
      CREATE TABLE ${LINES} (region text, code text, qty int NOT NULL, PRIMARY KEY (region, code));
      INSERT INTO ${LINES} SELECT r, c || '-' || g, g FROM pg_catalog.unnest(ARRAY['north', 'South', 'east']) r,
        pg_catalog.unnest(ARRAY['a', 'B']) c, generate_series(1, 500) g;`);
    ownerEnv = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    env = {
      PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicator.replicaUrl,
      POLL_INTERVAL: '100ms',
    };
    const added = await runCli(['add', 'items', LINES, '--no-wait'], ownerEnv);
    assert.equal(added.code, 0, added.stderr);
  });
  after(async () => {
    await replicator?.stop();
    await servers.stop();
  });

  it('reports rows changed, deleted and added on the replica behind its back: /status, /metrics, /health degraded; cleared by verify --repair', async () => {
    replicator = await startReplicator({ ...env, VERIFY_SHARE: '0.5' });
    await passes(1, undefined);
    const clean = await status();
    assert.equal(clean.verify?.share, 0.5);
    assert.deepEqual(
      clean.verify?.tables.map((t) => [t.table, t.last_pass_rows]),
      [
        ['Sales.Order Lines', 3_000],
        ['items', ITEMS_ROWS],
        ['users', 0],
      ],
    );
    for (const t of clean.verify?.tables ?? []) {
      // Every field is sent (Fastify drops what the schema does not list).
      assert.deepEqual(Object.keys(t).sort(), [
        'divergent',
        'divergent_rows',
        'divergent_truncated',
        'full_passes',
        'last_full_pass',
        'last_pass_rows',
        'note',
        'pass_rows',
        'table',
      ]);
      assert.equal(t.divergent_rows, 0, t.table);
      assert.equal(t.note, null, t.table);
      assert.ok(t.last_full_pass !== null && Date.parse(t.last_full_pass) > Date.parse(clean.started_at), t.table);
    }
    assert.deepEqual(await health(), { code: 200, body: { status: 'ok' } });

    await servers.replicaSql.query(`
      BEGIN;
      SET LOCAL session_replication_role = replica;
      UPDATE items SET note = 'drift' WHERE id = 12345;
      DELETE FROM items WHERE id = 777;
      INSERT INTO items VALUES (-5, 0, 'only on the replica');
      UPDATE ${LINES} SET qty = -1 WHERE region = 'South' AND code = 'B-17';
      COMMIT;`);
    const items = await waitFor(
      'the three rows of items reported',
      async () => {
        const t = await verifyOf('items');
        return t?.divergent_rows === 3 ? t : undefined;
      },
      60_000,
    );
    assert.deepEqual(items.divergent.map((d) => `${d.key} ${d.kind}`).sort(), [
      '{"id" : -5} extra',
      '{"id" : 12345} different',
      '{"id" : 777} missing',
    ]);
    const lines = await waitFor(
      'the row of Sales.Order Lines reported',
      async () => {
        const t = await verifyOf('Sales.Order Lines');
        return t?.divergent_rows === 1 ? t : undefined;
      },
      60_000,
    );
    assert.deepEqual(
      lines.divergent.map((d) => [d.key, d.kind]),
      [['{"region" : "South", "code" : "B-17"}', 'different']],
    );
    assert.equal((await verifyOf('users'))?.divergent_rows, 0);

    const samples = await metrics();
    assert.equal(samples.get('pg_replicator_verify_divergent_rows{table="items"}'), 3);
    assert.equal(samples.get('pg_replicator_verify_divergent_rows{table="Sales.Order Lines"}'), 1);
    assert.equal(samples.get('pg_replicator_verify_divergent_rows{table="users"}'), 0);
    const lastPass = samples.get('pg_replicator_verify_last_full_pass_timestamp_seconds{table="items"}') ?? 0;
    assert.ok(Math.abs(lastPass - Date.parse(items.last_full_pass ?? '') / 1000) < 0.01, `last full pass ${lastPass}`);
    assert.ok((samples.get('pg_replicator_verify_work_seconds_total') ?? 0) > 0);

    const degraded = await health();
    assert.equal(degraded.code, 200, 'a divergence is visible, but no reason to stop routing');
    assert.equal(degraded.body.status, 'degraded');
    assert.match(degraded.body.reason ?? '', /^replica differs from primary: /);
    assert.match(degraded.body.reason ?? '', /items \(3 rows: /);
    assert.match(degraded.body.reason ?? '', /\{"id" : 12345\}/);
    assert.match(degraded.body.reason ?? '', /Sales\.Order Lines \(1 row: \{"region" : "South", "code" : "B-17"\}\)/);
    const logged = (replicator?.output() ?? '').split('\n').flatMap((line) => (line ? [JSON.parse(line).msg as string] : []));
    assert.ok(
      logged.includes(
        'replica differs from primary: items {"id" : 12345} (different); repair with: replicator verify --repair items',
      ),
      logged.join('\n'),
    );
    assert.ok(
      logged.includes(
        `replica differs from primary: Sales.Order Lines {"region" : "South", "code" : "B-17"} (different); repair with: replicator verify --repair '"Sales"."Order Lines"'`,
      ),
      logged.join('\n'),
    );

    // It never repairs on its own: the rows are still different.
    const drift = await servers.replicaSql.query('SELECT note FROM items WHERE id = 12345');
    assert.equal(drift.rows[0]?.note, 'drift');

    const repaired = await runCli(['verify', '--repair'], env);
    assert.equal(repaired.code, 9, repaired.stdout + repaired.stderr);
    await waitFor(
      'the divergence cleared',
      async () => (await status()).verify?.tables.every((t) => t.divergent_rows === 0),
      60_000,
    );
    assert.deepEqual(await health(), { code: 200, body: { status: 'ok' } });
    assert.equal((await metrics()).get('pg_replicator_verify_divergent_rows{table="items"}'), 0);
  });

  it('reports nothing while writers change the primary and the replica lags (replication lag is not a difference)', async () => {
    await restart({ VERIFY_SHARE: '1' });
    const start = await passes(1, undefined).then(status);
    const writers = new pg.Pool({ connectionString: servers.primaryUrl, max: 3 });
    let writing = true;
    let writes = 0;
    let nextId = ITEMS_ROWS + 1;
    const writer = async (worker: number) => {
      for (let i = 0; writing; i++) {
        const id = 1 + ((i * 7919 + worker * 104_729) % ITEMS_ROWS);
        switch (i % 6) {
          case 0:
            await writers.query('DELETE FROM items WHERE id = $1', [id]);
            break;
          case 1:
            await writers.query('INSERT INTO items VALUES ($1, 1, $2) ON CONFLICT (id) DO NOTHING', [nextId++, 'new']);
            break;
          case 2: // a key change
            await writers.query('UPDATE items SET id = $2 WHERE id = $1', [id, nextId++]);
            break;
          case 3:
            await writers.query(`UPDATE ${LINES} SET qty = qty + 1 WHERE region = 'east' AND code = $1`, [`a-${1 + (i % 500)}`]);
            break;
          default:
            await writers.query('UPDATE items SET v = v + 1, note = $2 WHERE id = $1', [id, `w${worker}:${i}`]);
        }
        writes++;
      }
    };
    // The replica falls behind now and then: its tables locked against the apply for 300 ms.
    const locker = async () => {
      while (writing) {
        await servers.replicaSql.query(`BEGIN; LOCK TABLE items, ${LINES} IN SHARE MODE; SELECT pg_sleep(0.3); COMMIT`);
        await waitFor('a batch applied after the lock', async () => (await status()).lag_ms === 0, 10_000);
      }
    };
    const seen: string[] = [];
    let lagged = 0;
    const watcher = async () => {
      while (writing) {
        const [s, h] = await Promise.all([status(), health()]);
        if (Math.max(s.lag_ms ?? 0, s.last_batch_lag_ms ?? 0) > 100) lagged++;
        for (const t of s.verify?.tables ?? []) for (const d of t.divergent) seen.push(`${t.table} ${d.key} ${d.kind}`);
        if (h.body.status !== 'ok') seen.push(`health ${h.code} ${JSON.stringify(h.body)}`);
      }
    };
    const running = [writer(0), writer(1), writer(2), locker(), watcher()];
    try {
      await passes(3, start, 120_000);
    } finally {
      writing = false;
      await Promise.all(running);
      await writers.end();
    }
    assert.ok(writes > 300, `the primary was written during the passes (${writes} writes)`);
    assert.ok(lagged > 0, 'the replica lagged behind while it was compared');
    assert.deepEqual(seen, [], 'no difference reported, health always ok');
    await passes(1, await status());
    for (const t of (await status()).verify?.tables ?? []) assert.equal(t.divergent_rows, 0, t.table);
  });

  it('keeps its work within VERIFY_SHARE, by its own account and by the CPU time of its server backends', async () => {
    const share = 0.1;
    await restart({ VERIFY_SHARE: String(share) });
    await passes(1, undefined);
    const backends = async () => {
      const pids: number[] = [];
      for (const client of [servers.primarySql, servers.replicaSql]) {
        const { rows } = await client.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg-replicator verify'",
        );
        pids.push(...rows.map((r) => r.pid));
      }
      return pids.sort();
    };
    const pids = await backends();
    assert.ok(pids.length >= 2, `its own connections on both servers (${pids})`);
    const cpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const first = await status();
    const cpuBefore = cpu();
    const wallBefore = performance.now();
    // Long enough (about 10 s at this share) that the pause of the last slice, not taken yet, weighs little.
    await waitFor(
      'a second of verify work',
      async () => ((await status()).verify?.work_seconds ?? 0) - (first.verify?.work_seconds ?? 0) >= 1,
      60_000,
    );
    const last = await status();
    const wall = (performance.now() - wallBefore) / 1000;
    const work = (last.verify?.work_seconds ?? 0) - (first.verify?.work_seconds ?? 0);
    const cpuUsed = cpu() - cpuBefore;
    assert.deepEqual(await backends(), pids, 'the same backends throughout');
    // The last slice's work may end just before the window does, its pause not taken yet: allow 25%.
    assert.ok(work / wall <= share * 1.25, `work ${work.toFixed(2)} s in ${wall.toFixed(1)} s`);
    assert.ok(work / wall >= share * 0.5, `it does work at its share (${work.toFixed(2)} s in ${wall.toFixed(1)} s)`);
    // Two servers: each backend's CPU time is at most the verifier's work time.
    assert.ok(cpuUsed / 2 / wall <= share * 1.25, `server CPU ${cpuUsed.toFixed(2)} s on two servers in ${wall.toFixed(1)} s`);
  });

  it('VERIFY_SHARE=0 turns it off', async () => {
    await restart({ VERIFY_SHARE: '0' });
    await waitFor('running', async () => (await status()).state === 'running');
    assert.equal((await status()).verify, undefined);
    assert.doesNotMatch(
      [...(await metrics()).keys()].join('\n'),
      /^pg_replicator_verify_divergent_rows\{/m,
      'no per-table verify series',
    );
    const { rows } = await servers.primarySql.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg-replicator verify'",
    );
    assert.equal(rows[0]?.n, 0);
  });
});

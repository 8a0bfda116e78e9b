/**
 * The bad day, compressed: writers run random multi-statement transactions
 * (inserts, updates, deletes across three tables) while the suite in turn
 * SIGKILLs the replicator (again and again), restarts the replica and the
 * primary, cuts the replicator's connections mid-batch through a TCP proxy,
 * and makes the replica reject rows for a while. Afterwards the replica must
 * equal the primary, row for row, and the suite prints one line of figures.
 *
 * FAULT_SEED=<n> replays a run; FAULT_SECONDS=<n> changes how long writers run between faults.
 * FAULT_CAPTURE_MODE=logical runs it all in logical decoding mode (`npm run test:faults:logical`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type RunningReplicator, runCli, startReplicator } from '../support/cli.js';
import { reconnect, startTestServers, type TestServers, waitFor } from '../support/servers.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000);
const PAUSE_MS = Number(process.env.FAULT_SECONDS ?? 1.5) * 1000;
const TABLES = ['users', 'orders', 'order_lines'] as const;
const LOGICAL = process.env.FAULT_CAPTURE_MODE === 'logical';

// mulberry32: a small seeded generator, so a failing run can be replayed.
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe(`fault injection (FAULT_SEED=${SEED}${LOGICAL ? ', logical mode' : ''})`, () => {
  const rand = random(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  let servers: TestServers;
  let primaryProxy: TcpProxy;
  let replicaProxy: TcpProxy;
  let replicator: RunningReplicator | undefined;
  let env: Record<string, string>;
  let adminEnv: Record<string, string>;

  const figures = { transactions: 0, writeErrors: 0, faults: 0, maxLagMs: 0, recoveries: [] as Array<[string, number]> };

  before(async () => {
    servers = await startTestServers(
      LOGICAL ? { settings: { wal_level: 'logical', max_replication_slots: '8', max_wal_senders: '8' } } : {},
    );
    await servers.primarySql.query(`
      CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, total numeric(12,2) NOT NULL, status text);
      CREATE TABLE order_lines (order_id bigint, line_no int, sku text NOT NULL, qty int NOT NULL, PRIMARY KEY (order_id, line_no));
      CREATE TABLE heartbeat (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());`);
    adminEnv = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    if (LOGICAL) {
      // The owner switches the primary to logical capture, as the README says; add then follows it.
      await servers.primarySql.query('ALTER ROLE replicator_login REPLICATION');
      const init = await runCli(['init', 'primary'], { ...adminEnv, CAPTURE_MODE: 'logical' });
      assert.equal(init.code, 0, init.stderr);
    }
    const added = await runCli(['add', 'orders', 'order_lines', 'heartbeat', '--no-wait'], adminEnv);
    assert.equal(added.code, 0, added.stderr);
    primaryProxy = await startTcpProxy(servers.primary.port);
    replicaProxy = await startTcpProxy(servers.replica.port);
    const viaProxy = (url: string, port: number) => url.replace(/:\d+\//, `:${port}/`);
    env = {
      PRIMARY_DATABASE_URL: viaProxy(servers.replicator.primaryUrl, primaryProxy.port),
      REPLICA_DATABASE_URL: viaProxy(servers.replicator.replicaUrl, replicaProxy.port),
      POLL_INTERVAL: '200ms',
      LOG_LEVEL: 'warn',
      ...(LOGICAL ? { CAPTURE_MODE: 'logical' } : {}),
    };
  });
  after(async () => {
    await replicator?.stop();
    await primaryProxy?.close();
    await replicaProxy?.close();
    await servers.stop();
  });

  it('converges to an identical replica through every fault', async () => {
    replicator = await startReplicator(env);

    // Writers: random transactions of 1-5 statements across the tables.
    const writers = new pg.Pool({ connectionString: servers.primaryUrl, max: 3 });
    writers.on('error', () => {});
    // A server restart ends checked-out connections with an 'error' event.
    writers.on('connect', (client) => client.on('error', () => {}));
    let writing = true;
    let nextId = 1;
    const statement = (): [string, unknown[]] => {
      const id = 1 + Math.floor(rand() * Math.max(nextId, 2));
      switch (
        pick(['insert-order', 'insert-line', 'update-order', 'update-line', 'delete-order', 'delete-line', 'user'] as const)
      ) {
        case 'insert-order':
          return [
            'INSERT INTO orders VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
            [nextId++, Math.floor(rand() * 100), (rand() * 1000).toFixed(2), 'new'],
          ];
        case 'insert-line':
          return [
            'INSERT INTO order_lines VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
            [id, Math.floor(rand() * 5), `sku-${id}`, 1],
          ];
        case 'update-order':
          return ['UPDATE orders SET total = total + 1, status = $2 WHERE id = $1', [id, pick(['paid', 'shipped', 'big'])]];
        case 'update-line':
          return ['UPDATE order_lines SET qty = qty + 1 WHERE order_id = $1', [id]];
        case 'delete-order':
          return ['DELETE FROM orders WHERE id = $1', [id]];
        case 'delete-line':
          return ['DELETE FROM order_lines WHERE order_id = $1 AND line_no = $2', [id, Math.floor(rand() * 5)]];
        default:
          return ['INSERT INTO users (name, email) VALUES ($1, $2)', [`u${id}`, `u${id}.${nextId++}@faults.example`]];
      }
    };
    const writer = async () => {
      while (writing) {
        const client = await writers.connect().catch(() => undefined);
        if (!client) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        let broken = false;
        try {
          await client.query('BEGIN');
          const n = 1 + Math.floor(rand() * 5);
          for (let i = 0; i < n; i++) await client.query(...statement());
          await client.query('COMMIT');
          figures.transactions++;
        } catch {
          figures.writeErrors++;
          broken = true;
          await client.query('ROLLBACK').catch(() => {});
        } finally {
          client.release(broken);
        }
      }
    };
    const running = [writer(), writer(), writer()];

    // Heartbeats: written on the primary, watched on the replica; their delay is the lag.
    const sentAt = new Map<number, number>();
    let beat = 0;
    let seen = 0;
    const heartbeats = setInterval(() => {
      const id = ++beat;
      sentAt.set(id, Date.now());
      writers.query('INSERT INTO heartbeat (id) VALUES ($1)', [id]).catch(() => sentAt.delete(id));
    }, 100);
    const watcher = new pg.Pool({ connectionString: servers.replicaUrl, max: 1 });
    watcher.on('error', () => {});
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const max = await watcher
          .query('SELECT coalesce(max(id), 0)::int AS id FROM heartbeat')
          .then((r) => r.rows[0].id as number)
          .catch(() => seen);
        for (let id = seen + 1; id <= max; id++) {
          const at = sentAt.get(id);
          if (at !== undefined) figures.maxLagMs = Math.max(figures.maxLagMs, Date.now() - at);
        }
        seen = Math.max(seen, max);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const pause = () => new Promise((r) => setTimeout(r, PAUSE_MS * (0.5 + rand())));
    // After a fault: time until a heartbeat written now has reached the replica.
    const recovered = async (fault: string, since: number) => {
      const target = beat + 1;
      await waitFor(`recovery after ${fault}`, async () => seen >= target, 60_000);
      figures.recoveries.push([fault, Date.now() - since]);
    };

    try {
      await pause();
      for (let i = 0; i < 10; i++) {
        replicator.child.kill('SIGKILL');
        await replicator.exited;
        figures.faults++;
        const at = Date.now();
        await new Promise((r) => setTimeout(r, rand() * 500));
        replicator = await startReplicator(env);
        await recovered('replicator SIGKILL', at);
        await pause();
      }

      for (const role of ['replica', 'primary'] as const) {
        await servers[role].stop();
        figures.faults++;
        await pause();
        const at = Date.now();
        await servers[role].restart();
        await reconnect(servers, role);
        await recovered(`${role} restart`, at);
        await pause();
      }

      for (let i = 0; i < 3; i++) {
        await waitFor('connections to cut', async () => primaryProxy.cutAll() + replicaProxy.cutAll() > 0);
        figures.faults++;
        await recovered('connections cut', Date.now());
        await pause();
      }

      // The replica rejects some rows for a while; replication stops at them, then resumes.
      await servers.replicaSql.query("ALTER TABLE orders ADD CONSTRAINT not_big CHECK (status IS DISTINCT FROM 'big') NOT VALID");
      figures.faults++;
      await waitFor(
        'the rejection reported',
        async () => /not_big/.test(String((await replicator?.status())?.last_error)),
        60_000,
      );
      await pause();
      const at = Date.now();
      await servers.replicaSql.query('ALTER TABLE orders DROP CONSTRAINT not_big');
      await recovered('rejected rows', at);
      await pause();
    } finally {
      writing = false;
      clearInterval(heartbeats);
      await Promise.all(running);
    }

    // Converged: every table identical, row for row.
    const digest = async (client: pg.Client, table: string) =>
      (
        await client.query(
          `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS d FROM ${table} t`,
        )
      ).rows[0];
    let differences = 0;
    await waitFor(
      'every table identical',
      async () => {
        differences = 0;
        for (const table of [...TABLES, 'heartbeat']) {
          const [a, b] = await Promise.all([digest(servers.primarySql, table), digest(servers.replicaSql, table)]);
          if (a.d !== b.d) differences++;
        }
        return differences === 0;
      },
      60_000,
    ).catch(() => undefined);
    watching = false;
    await watch;
    await watcher.end();
    await writers.end();

    // And replicator verify, the tool a user would run, agrees.
    const verify = await runCli(['verify'], adminEnv);
    const recoveries = figures.recoveries.map(([f, ms]) => `${f} ${ms}`).join(', ');
    process.stdout.write(
      `fault suite (FAULT_SEED=${SEED}): ${figures.transactions} transactions written, ${figures.faults} faults injected, ` +
        `${differences} tables different (verify exit ${verify.code}), max lag ${figures.maxLagMs} ms; recovery ms: ${recoveries}\n`,
    );
    assert.equal(differences, 0, 'the replica equals the primary');
    assert.equal(verify.code, 0, `replicator verify reports no difference:\n${verify.stdout}${verify.stderr}`);
    assert.ok(figures.transactions > 100, `writers made progress (${figures.transactions})`);
    assert.ok(figures.faults >= 16);
  });
});

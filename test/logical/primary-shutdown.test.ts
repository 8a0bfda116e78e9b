/**
 * A primary's fast shutdown is never held up by the replicator's stream.
 * PostgreSQL's walsender exits only once its client has confirmed everything
 * it sent, or has gone; with writes in flight the replicator cannot confirm
 * what the replica has not committed, so on losing its primary sessions it
 * closes the stream, and streams again from the replica's position once the
 * primary is back. Nothing is lost or applied twice across it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type RunningReplicator, startReplicator } from '../support/cli.js';
import { reconnect, type TestServers, tableText, waitFor } from '../support/servers.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

describe('logical mode: the primary shuts down under writes', () => {
  let servers: TestServers;
  let replicator: RunningReplicator | undefined;

  before(async () => {
    servers = await startLogicalServers();
  });
  after(async () => {
    await replicator?.stop();
    await servers.stop();
  });

  it('stops promptly, and the replica converges once it is back', async () => {
    replicator = await startReplicator({
      ...LOGICAL_ENV,
      PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicator.replicaUrl,
      POLL_INTERVAL: '200ms',
    });
    const writers = new pg.Pool({ connectionString: servers.primaryUrl, max: 3 });
    writers.on('error', () => {});
    writers.on('connect', (client) => client.on('error', () => {}));
    let writing = true;
    let committed = 0;
    const writer = async () => {
      while (writing) {
        await writers
          .query(
            "INSERT INTO users (name, email) SELECT 'w', 'w' || g || '.' || pg_catalog.clock_timestamp() FROM generate_series(1, 20) g",
          )
          .then(() => committed++)
          .catch(() => new Promise((r) => setTimeout(r, 20)));
      }
    };
    const running = [writer(), writer(), writer()];
    await waitFor('writes reaching the replica', async () => {
      const { rows } = await servers.replicaSql.query('SELECT count(*)::int AS n FROM users');
      return rows[0].n >= 200;
    });

    const started = Date.now();
    await Promise.race([
      servers.primary.stop(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the primary did not stop within 30 s')), 30_000)),
    ]);
    const stopMs = Date.now() - started;
    writing = false;
    await Promise.all(running);
    await writers.end().catch(() => {});
    assert.ok(committed > 10, `writers committed (${committed})`);

    await servers.primary.restart();
    await reconnect(servers, 'primary');
    await waitFor(
      'the replica equal to the primary',
      async () =>
        JSON.stringify(await tableText(servers.replicaSql, 'users')) ===
        JSON.stringify(await tableText(servers.primarySql, 'users')),
      60_000,
    );
    process.stdout.write(`# primary fast shutdown under writes took ${stopMs} ms\n`);
  });
});

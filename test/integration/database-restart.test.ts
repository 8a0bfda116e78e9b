/**
 * A database that goes away mid-stream: the replicator reports it (/health
 * 503, error_count), retries with backoff, and converges once it is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Service } from '../../src/service.js';
import { reconnect, startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

describe('database restarts', () => {
  let servers: TestServers;
  let service: Service;

  before(async () => {
    servers = await startTestServers();
    service = await startInProcess(servers, { POLL_INTERVAL: '200ms' });
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  const health = async () => {
    const response = await fetch(`${service.url}/health`);
    return { code: response.status, body: (await response.json()) as { status: string; reason?: string } };
  };

  it('keeps writing through a replica restart and converges', async () => {
    const writer = new pg.Pool({ connectionString: servers.primaryUrl, max: 2 });
    let writing = true;
    let written = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query('INSERT INTO users (name, email) VALUES ($1, $2)', [`w${written}`, `w${written}@restart.example`]);
        written++;
      }
    })();
    try {
      await waitFor('replication running', async () => service.status.recordsReplicated > 10);
      await servers.replica.stop();
      const down = await waitFor('/health 503 while the replica is down', async () => {
        const h = await health();
        return h.code === 503 && h.body.reason?.includes('replica') ? h : undefined;
      });
      assert.equal(down.body.status, 'unhealthy');
      // An orchestrator must not restart a replicator that only waits for its database.
      const live = await fetch(`${service.url}/health/live`);
      assert.equal(live.status, 200, 'alive while the replica is down');
      const ready = await fetch(`${service.url}/health/ready`);
      assert.equal(ready.status, 503, 'not ready while the replica is down');
      // The health check (every 2 s) and the loop may report it first: either way, coarse.
      assert.match(((await ready.json()) as { reason: string }).reason, /^(replica database unreachable|replication failing)$/);
      await waitFor('errors counted', async () => service.status.errorCount > 0);
      assert.match(service.status.lastError ?? '', /replica database .* unreachable/);
      assert.doesNotMatch(JSON.stringify(service.status.snapshot()), /s3cr3t/);
      await servers.replica.restart();
      const atRestart = written;
      await waitFor('writes going on across the restart', async () => written > atRestart + 20);
    } finally {
      writing = false;
      await writes;
      await writer.end();
    }
    await reconnect(servers, 'replica');
    await waitFor('the replica converges', async () => (await tableText(servers.replicaSql, 'users')).length === written, 30_000);
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
    await waitFor('/health 200 again', async () => (await health()).code === 200);
    assert.equal((await fetch(`${service.url}/health/ready`)).status, 200, 'ready again');
  });

  it('resumes after a primary restart', async () => {
    await servers.primary.stop();
    await waitFor('primary reported unreachable', async () => (await health()).body.reason?.includes('primary'));
    await servers.primary.restart();
    await reconnect(servers, 'primary');
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('after', 'after@restart.example')");
    await waitFor(
      'the new row on the replica',
      async () => {
        const { rows } = await servers.replicaSql.query("SELECT 1 FROM users WHERE email = 'after@restart.example'");
        return rows.length === 1;
      },
      30_000,
    );
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
  });
});

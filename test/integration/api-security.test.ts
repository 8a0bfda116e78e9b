/**
 * The API's security: with API_TOKEN every endpoint but /health (and the
 * dashboard's data-free shell) needs the bearer token; without it the API
 * refuses to listen beyond loopback; passwords never reach /status or logs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { runCli, startReplicator } from '../support/cli.js';
import { startTestServers, TEST_PASSWORD, type TestServers, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

const TOKEN = 'test-token-0123456789abcdef';

describe('API token', () => {
  let servers: TestServers;
  let service: Service;
  before(async () => {
    servers = await startTestServers();
    service = await startInProcess(servers, { API_TOKEN: TOKEN });
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  const get = (path: string, token?: string) =>
    fetch(`${service.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('requires the bearer token on every endpoint but the health probes', async () => {
    for (const path of ['/status', '/metrics', '/openapi.json']) {
      assert.equal((await get(path)).status, 401, `${path} without a token`);
      assert.equal((await get(path, `${TOKEN}x`)).status, 401, `${path} with a wrong token`);
      assert.equal((await get(path, TOKEN.slice(0, 5))).status, 401, `${path} with a prefix of the token`);
      assert.equal((await get(path, TOKEN)).status, 200, `${path} with the token`);
    }
    await waitFor('/health without a token', async () => (await get('/health')).status === 200);
    for (const path of ['/health/live', '/health/ready']) assert.equal((await get(path)).status, 200, `${path} without a token`);
  });

  it('lets `replicator status` use API_TOKEN', async () => {
    const refused = await runCli(['status', '--url', service.url], {});
    assert.equal(refused.code, 6);
    assert.match(refused.stderr, /needs the API token; set API_TOKEN/);
    const answered = await runCli(['status', '--json', '--url', service.url], { API_TOKEN: TOKEN });
    assert.equal(answered.code, 0, answered.stderr);
  });
});

describe('health probes say a coarse reason only when a token guards the details', () => {
  let servers: TestServers;
  before(async () => {
    // No schema installed: replication fails with an error that names the host and the login.
    servers = await startTestServers({ install: false });
  });
  after(async () => {
    await servers.stop();
  });

  const failing = async (service: Service) => {
    await waitFor('replication failing', async () => service.status.state === 'failing');
    const body = async (path: string) => {
      const response = await fetch(`${service.url}${path}`);
      return { code: response.status, text: await response.text() };
    };
    return { health: await body('/health'), ready: await body('/health/ready'), live: await body('/health/live') };
  };

  it('with API_TOKEN: "replication failing", never the error text; the details behind the token in /status', async () => {
    const service = await startInProcess(servers, { API_TOKEN: TOKEN }, true);
    try {
      const { health, ready, live } = await failing(service);
      assert.deepEqual([health.code, JSON.parse(health.text)], [503, { status: 'unhealthy', reason: 'replication failing' }]);
      assert.deepEqual([ready.code, JSON.parse(ready.text)], [503, { status: 'unhealthy', reason: 'replication failing' }]);
      assert.deepEqual([live.code, JSON.parse(live.text)], [200, { status: 'ok' }]);
      const shell = await (await fetch(`${service.url}/`)).text();
      for (const text of [health.text, ready.text, live.text, shell]) {
        assert.doesNotMatch(text, /127\.0\.0\.1|postgres|does not exist/, 'no host, login or error text');
      }
      const status = (await (await fetch(`${service.url}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
        last_error: string;
      };
      assert.match(status.last_error, /127\.0\.0\.1/, 'the details are in /status, behind the token');
    } finally {
      await service.stop();
    }
  });

  it('without a token (loopback only, /status open): /health keeps the error, as the Go demo did', async () => {
    const service = await startInProcess(servers, {}, true);
    try {
      const { health, ready } = await failing(service);
      assert.match(JSON.parse(health.text).reason, /^replication failing: .+/);
      assert.equal(JSON.parse(ready.text).reason, 'replication failing', '/health/ready is always coarse');
    } finally {
      await service.stop();
    }
  });
});

describe('API exposure and secrets', () => {
  let servers: TestServers;
  before(async () => {
    servers = await startTestServers();
  });
  after(async () => {
    await servers.stop();
  });

  it('refuses to listen beyond loopback without a token, judging the address, not the name', async () => {
    const env = { PRIMARY_DATABASE_URL: servers.replicator.primaryUrl, REPLICA_DATABASE_URL: servers.replicator.replicaUrl };
    for (const host of ['0.0.0.0', '127.evil.example']) {
      const result = await runCli(['run'], { ...env, HTTP_HOST: host });
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        new RegExp(
          `HTTP_HOST: "${host.replace(/\./g, '\\.')}" would expose the API beyond this machine without authentication; set API_TOKEN`,
        ),
      );
    }
  });

  it('never shows a password in /status, /health or the log, even when it is wrong', async () => {
    const wrong = 'Wr0ng-pass-word-42';
    const replicator = await startReplicator({
      PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicator.replicaUrl.replace(encodeURIComponent(TEST_PASSWORD), wrong),
    });
    try {
      const status = await waitFor('the authentication error', async () => {
        const s = await replicator.status();
        return s.last_error_code === 'AUTH_FAILED' ? s : undefined;
      });
      assert.match(String(status.last_error), /replica database postgresql:\/\/replicator_login:\*{5}@.*authentication failed/);
      const cli = await runCli(['status', '--url', replicator.apiUrl], {});
      assert.equal(cli.code, 11, 'replicator status: replication failing');
      const health = await (await fetch(`${replicator.apiUrl}/health`)).text();
      const everything = JSON.stringify(status) + health + replicator.output();
      for (const secret of [wrong, TEST_PASSWORD, encodeURIComponent(TEST_PASSWORD)])
        assert.ok(!everything.includes(secret), 'no password');
    } finally {
      await replicator.stop();
    }
  });
});

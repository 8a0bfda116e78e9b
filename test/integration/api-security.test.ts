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

  it('requires the bearer token on every endpoint but /health', async () => {
    for (const path of ['/status', '/metrics', '/openapi.json']) {
      assert.equal((await get(path)).status, 401, `${path} without a token`);
      assert.equal((await get(path, `${TOKEN}x`)).status, 401, `${path} with a wrong token`);
      assert.equal((await get(path, TOKEN.slice(0, 5))).status, 401, `${path} with a prefix of the token`);
      assert.equal((await get(path, TOKEN)).status, 200, `${path} with the token`);
    }
    await waitFor('/health without a token', async () => (await get('/health')).status === 200);
  });

  it('lets `replicator status` use API_TOKEN', async () => {
    const refused = await runCli(['status', '--url', service.url], {});
    assert.equal(refused.code, 6);
    assert.match(refused.stderr, /needs the API token; set API_TOKEN/);
    const answered = await runCli(['status', '--json', '--url', service.url], { API_TOKEN: TOKEN });
    assert.equal(answered.code, 0, answered.stderr);
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

  it('refuses to listen beyond loopback without a token', async () => {
    const env = { PRIMARY_DATABASE_URL: servers.replicator.primaryUrl, REPLICA_DATABASE_URL: servers.replicator.replicaUrl };
    const result = await runCli(['run'], { ...env, HTTP_HOST: '0.0.0.0' });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /HTTP_HOST: "0\.0\.0\.0" would expose the API beyond this machine without authentication; set API_TOKEN/,
    );
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

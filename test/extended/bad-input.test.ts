/**
 * Bad configuration and unreachable databases: one clear line naming the
 * cause and the fix, the documented exit code, no stack trace, no password.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/embedded/embedded-server.js';
import { runCli } from '../support/cli.js';
import { startTestServers, TEST_PASSWORD, type TestServers } from '../support/servers.js';

function assertOneLineError(result: { code: number | null; stderr: string; stdout: string }, code: number, pattern: RegExp) {
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(result.stderr + result.stdout, new RegExp(TEST_PASSWORD));
}

describe('bad configuration', () => {
  const urls = {
    PRIMARY_DATABASE_URL: 'postgresql://u:pw@127.0.0.1:1/a',
    REPLICA_DATABASE_URL: 'postgresql://u:pw@127.0.0.1:2/b',
  };
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ POLL_INTERVAL: 'often' }, /^error \[CONFIG_INVALID\]: POLL_INTERVAL: "often" is not a duration/],
    [{ BATCH_SIZE: '-5' }, /^error \[CONFIG_INVALID\]: BATCH_SIZE: "-5" is not a whole number/],
    [{ HTTP_PORT: 'eighty' }, /^error \[CONFIG_INVALID\]: HTTP_PORT: "eighty" is not a whole number/],
    [{ LOG_LEVEL: 'chatty' }, /^error \[CONFIG_INVALID\]: LOG_LEVEL: "chatty" is not one of/],
    [{ PRIMARY_DATABASE_URL: 'http://example.com' }, /^error \[CONFIG_INVALID\]: PRIMARY_DATABASE_URL: has scheme "http:"/],
    [{ PRIMARY_DATABASE_URL: urls.PRIMARY_DATABASE_URL }, /^error \[CONFIG_INVALID\]: REPLICA_DATABASE_URL: is not set/],
  ];
  for (const [env, pattern] of cases) {
    it(`rejects ${JSON.stringify(env)}`, async () => {
      assertOneLineError(await runCli(['run'], env), 2, pattern);
    });
  }

  it('rejects a bad CLI flag value the same way', async () => {
    assertOneLineError(await runCli(['run', '--poll-interval', 'never', ...[]], {}), 2, /POLL_INTERVAL: "never"/);
  });

  it('documents the exit codes in --help', async () => {
    const help = await runCli(['--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit codes:[\s\S]*\n {2}2 +invalid configuration.*\[CONFIG_INVALID\]/);
    const run = await runCli(['run', '--help'], {});
    assert.match(run.stdout, /Examples?:/);
  });

  it('answers an unknown command or option with one line and the help to read, exit 64', async () => {
    assertOneLineError(
      await runCli(['rn'], {}),
      64,
      /^error \[USAGE\]: unknown command 'rn' \(Did you mean run\?\); see `replicator --help`$/,
    );
    assertOneLineError(
      await runCli(['run', '--pol-interval', '5s'], {}),
      64,
      /^error \[USAGE\]: unknown option '--pol-interval'.*; see `replicator run --help`$/,
    );
    assertOneLineError(
      await runCli(['add'], {}),
      64,
      /^error \[USAGE\]: missing required argument 'tables'; see `replicator add --help`$/,
    );
    const bare = await runCli([], {});
    assertOneLineError(bare, 64, /^error \[USAGE\]: no command given; see `replicator --help`$/);
    assert.equal(bare.stdout, '', 'no help dump');
  });

  it('prints its version', async () => {
    const result = await runCli(['--version'], {});
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});

describe('unreachable databases', () => {
  let servers: TestServers;
  before(async () => {
    servers = await startTestServers({ install: false });
  });
  after(async () => {
    await servers.stop();
  });

  it('names the database and the fix when nothing listens', async () => {
    const port = await freePort();
    const url = `postgresql://postgres:${encodeURIComponent(TEST_PASSWORD)}@127.0.0.1:${port}/postgres`;
    const result = await runCli(['install-primary'], { PRIMARY_DATABASE_URL: url, REPLICA_DATABASE_URL: servers.replicaUrl });
    assertOneLineError(
      result,
      3,
      /^error \[DATABASE_UNREACHABLE\]: primary database postgresql:\/\/postgres:\*{5}@127\.0\.0\.1:\d+\/postgres is unreachable .*check that it is running/,
    );
  });

  it('says the password is wrong, without printing it', async () => {
    const url = servers.replicaUrl.replace(encodeURIComponent(TEST_PASSWORD), 'wrong-password');
    const result = await runCli(['install-replica'], { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: url });
    assertOneLineError(
      result,
      3,
      /^error \[AUTH_FAILED\]: replica database .*authentication failed.*check the user and password/,
    );
    assert.doesNotMatch(result.stderr, /wrong-password/);
  });

  it('says which database does not exist', async () => {
    const url = servers.primaryUrl.replace(/\/postgres$/, '/nosuchdb');
    const result = await runCli(['install-primary'], { PRIMARY_DATABASE_URL: url, REPLICA_DATABASE_URL: servers.replicaUrl });
    assertOneLineError(result, 3, /nosuchdb.*does not exist; create it or fix the database name/);
  });
});

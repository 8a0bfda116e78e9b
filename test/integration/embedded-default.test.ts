/**
 * The zero-configuration path of the README: `replicator run` with no
 * database configured starts two embedded servers and prints commands that
 * work as printed (run here through the shell and psql, as a user would).
 * The embedded server itself: a start that fails and a stop after its
 * process died both return (the tests' servers start the same way).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startEmbeddedServer } from '../../src/embedded/embedded-server.js';
import type { ReplicatorError } from '../../src/errors.js';
import { type RunningReplicator, startReplicator } from '../support/cli.js';
import { waitFor } from '../support/servers.js';

const sh = promisify(execFile);

describe('embedded default', () => {
  let dataDir: string;
  let replicator: RunningReplicator;

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'pg-replicator-demo-'));
    chmodSync(dataDir, 0o755);
    // Two initdb runs and two servers before the API answers: slow on a busy 2-core machine.
    replicator = await startReplicator({ DATA_DIR: dataDir, DEMO_WRITER: 'false' }, undefined, 60_000);
  });
  after(async () => {
    await replicator.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints demo commands that work as printed', async () => {
    const printed = await waitFor('the printed instructions', async () =>
      replicator.output().includes('Press Ctrl+C') ? replicator.output() : undefined,
    );
    assert.match(printed, /this is the embedded DEMO/);
    assert.match(printed, /To replicate your own databases.*set PRIMARY_DATABASE_URL and REPLICA_DATABASE_URL/);
    const commands = printed
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('psql ') || l.startsWith('curl '));
    assert.ok(commands.length >= 8, printed);
    const run = async (command: string) => (await sh('bash', ['-c', command])).stdout;

    const [insert, , selectReplica] = commands;
    assert.match(insert ?? '', /INSERT INTO users/);
    await run(insert as string);
    await waitFor('3 rows on the replica', async () => (await run(selectReplica as string)).includes('(3 rows)'));
    const status = JSON.parse(await run(commands.find((c) => c.endsWith('/status')) as string));
    assert.equal(status.records_replicated, 3);
    for (const command of commands.filter((c) => /UPDATE|DELETE/.test(c))) await run(command);
    await waitFor('update and delete on the replica', async () => {
      const out = await run(selectReplica as string);
      return out.includes('(2 rows)') && out.includes('alice.j@example.com');
    });
    assert.match(await run(commands.find((c) => c.endsWith('/health')) as string), /"status":"ok"/);
  });
});

describe('embedded server start and stop', () => {
  const bounded = <T>(what: string, promise: Promise<T>, ms: number) =>
    Promise.race([
      promise,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms).unref()),
    ]);

  it('a server that cannot start is one clear error, never a wait without end', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pg-replicator-embedded-'));
    try {
      // The server exits at once on a bad setting, as it does when another process took its port.
      const started = startEmbeddedServer({ dataDir, settings: { max_connections: 'not-a-number' } });
      await assert.rejects(bounded('startEmbeddedServer', started, 120_000), (error: Error) => {
        assert.equal((error as ReplicatorError).code, 'EMBEDDED_START_FAILED');
        assert.match(error.message, /did not start .*delete the folder to start afresh/);
        return true;
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('stop() returns for a server whose process already died', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pg-replicator-embedded-'));
    try {
      const server = await startEmbeddedServer({ dataDir, password: 'x' });
      const pid = Number(readFileSync(path.join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGKILL');
      await waitFor('the server process gone', async () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
      await bounded('stop()', server.stop(), 20_000);
      // And it starts again on the same data, then stops as usual.
      await bounded('restart()', server.restart(), 60_000);
      await bounded('stop()', server.stop(), 40_000);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stopWithin } from '../../src/cli/stop-within.js';
import { ReplicatorError } from '../../src/errors.js';

describe('stopping replicator run', () => {
  it('waits for a stop that ends', async () => {
    let stopped = false;
    await stopWithin(async () => {
      await new Promise((r) => setTimeout(r, 20));
      stopped = true;
    }, 5_000);
    assert.equal(stopped, true);
    assert.equal(process.listenerCount('SIGTERM'), 0, 'its signal handlers are removed');
  });

  it('gives up on a stop that hangs, with SHUTDOWN_TIMEOUT', async () => {
    await assert.rejects(
      stopWithin(() => new Promise<void>(() => {}), 50),
      (error: unknown) =>
        error instanceof ReplicatorError &&
        error.code === 'SHUTDOWN_TIMEOUT' &&
        error.exitCode === 12 &&
        /0.05 s/.test(error.message),
    );
  });

  it('gives up at a second signal', async () => {
    const stopping = stopWithin(() => new Promise<void>(() => {}), 60_000);
    process.emit('SIGTERM', 'SIGTERM');
    await assert.rejects(stopping, /SIGTERM received while stopping/);
  });
});

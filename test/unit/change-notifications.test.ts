/**
 * The LISTEN side's waits: a wait that times out leaves nothing behind, so
 * the next notification always ends the wait that is current (a stale waiter
 * swallowing it would leave a change waiting for the poll interval).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Database } from '../../src/db/database.js';
import { createLogger } from '../../src/log.js';
import { ChangeNotifications } from '../../src/source/trigger/change-notifications.js';

describe('ChangeNotifications', () => {
  const make = () =>
    new ChangeNotifications(
      new Database({ url: 'postgresql://unused@127.0.0.1:1/none', role: 'primary' }),
      createLogger('silent', { pretty: false }),
    );

  it('a notification after timed-out waits ends the current wait at once', async () => {
    const n = make();
    for (let i = 0; i < 5; i++) await n.wait(1);
    const started = performance.now();
    const waiting = n.wait(10_000);
    n.wake();
    await waiting;
    assert.ok(performance.now() - started < 1000, 'woken, not timed out');
  });

  it('a notification with nobody waiting is kept for the next wait, after timed-out waits too', async () => {
    const n = make();
    for (let i = 0; i < 5; i++) await n.wait(1);
    n.wake();
    const started = performance.now();
    await n.wait(10_000);
    assert.ok(performance.now() - started < 1000);
  });
});

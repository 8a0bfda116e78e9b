/**
 * The health verdicts on the real status object: liveness never reads a
 * database; readiness allows a bounded lag; coarse reasons never quote an error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { notReadyReason, unhealthyReason } from '../../src/replication/health-monitor.js';
import { ReplicationStatus } from '../../src/replication/replication-status.js';

function running(lagMs: number): ReplicationStatus {
  const status = new ReplicationStatus();
  status.primaryReachable = true;
  status.replicaReachable = true;
  status.recordHealthy();
  status.lagMs = lagMs;
  return status;
}

describe('readiness', () => {
  it('is ready while caught up or catching up within the bound, and says by how much when not', () => {
    assert.equal(notReadyReason(running(0)), null);
    assert.equal(notReadyReason(running(59_000)), null);
    assert.equal(notReadyReason(running(125_000)), 'catching up: lag 125 s is over 60 s');
    assert.equal(notReadyReason(running(5_000), 1_000), 'catching up: lag 5 s is over 1 s');
  });

  it('is not ready while starting, a database is away, or replication fails; the reason never quotes the error', () => {
    assert.equal(notReadyReason(new ReplicationStatus()), 'starting');
    const away = running(0);
    away.replicaReachable = false;
    assert.equal(notReadyReason(away), 'replica database unreachable');
    const failing = running(0);
    failing.recordError(
      'AUTH_FAILED',
      'replica database postgresql://alice:*****@db.internal/app: password authentication failed',
    );
    assert.equal(notReadyReason(failing), 'replication failing');
    assert.equal(unhealthyReason(failing, false), 'replication failing');
    assert.match(unhealthyReason(failing, true) ?? '', /^replication failing: replica database postgresql:\/\/alice/);
  });
});

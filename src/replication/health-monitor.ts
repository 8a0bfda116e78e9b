/**
 * Checks both databases and the backlog every few seconds, independently of
 * the loop, so /health and /status tell the truth even while the loop is
 * stuck in a long batch or backing off. The verdicts below read only what it
 * and the loop recorded: liveness never depends on a database (a process
 * waiting for one is alive), readiness does.
 */
import type pg from 'pg';
import { countBacklog } from '../source/trigger/count-backlog.js';
import type { ReplicatedTable } from '../tables/table-model.js';
import type { ReplicationStatus } from './replication-status.js';

const CHECK_TIMEOUT_MS = 3000;

async function reachable(pool: pg.Pool): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
  });
  const check = pool.query('SELECT 1').then(
    () => true,
    () => false,
  );
  const result = await Promise.race([check, timeout]);
  clearTimeout(timer);
  return result;
}

export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly primary: pg.Pool,
    private readonly replica: pg.Pool,
    private readonly tables: () => readonly ReplicatedTable[],
    private readonly status: ReplicationStatus,
    private readonly replicaSnapshot: () => string | null | undefined,
    /** The source counts its own backlog (the WAL source: what it received); else the change logs are counted. */
    private readonly sourceBacklog?: () => number,
    private readonly everyMs = 2000,
  ) {}

  start(): void {
    const tick = () => {
      this.running = this.check().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.everyMs);
      });
    };
    tick();
  }

  async check(): Promise<void> {
    const [primaryUp, replicaUp] = await Promise.all([reachable(this.primary), reachable(this.replica)]);
    this.status.primaryReachable = primaryUp;
    this.status.replicaReachable = replicaUp;
    if (this.sourceBacklog) {
      this.status.backlog = this.sourceBacklog();
      return;
    }
    const snapshot = this.replicaSnapshot();
    if (primaryUp && snapshot !== undefined && snapshot !== null) {
      try {
        let backlog = 0;
        for (const table of this.tables()) backlog += await countBacklog(this.primary, table, snapshot);
        this.status.backlog = backlog;
      } catch {
        // Reachability is already reported; a failed count keeps the last figure.
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

/** Readiness allows this much lag by default: catching up within it still counts as ready. */
export const DEFAULT_READY_MAX_LAG_MS = 60_000;

/**
 * The /health verdict: null when healthy, else the reason. `detailed` adds the
 * error's text to "replication failing" (it may name logins, hosts, row
 * values): only when the API has no token, so that /status shows it anyway.
 */
export function unhealthyReason(status: ReplicationStatus, detailed = true): string | null {
  if (status.primaryReachable === false) return 'primary database unreachable';
  if (status.replicaReachable === false) return 'replica database unreachable';
  if (status.state === 'failing') {
    return detailed ? `replication failing: ${status.lastError ?? 'unknown error'}` : 'replication failing';
  }
  if (status.state === 'stopped') return 'replication stopped';
  if (status.primaryReachable === null || status.state === 'starting') return 'starting';
  return null;
}

/**
 * The /health/ready verdict: null when replicating (caught up, or behind by at
 * most maxLagMs), else a coarse reason that never quotes an error.
 */
export function notReadyReason(status: ReplicationStatus, maxLagMs = DEFAULT_READY_MAX_LAG_MS): string | null {
  const unhealthy = unhealthyReason(status, false);
  if (unhealthy !== null) return unhealthy;
  if (status.lagMs !== null && status.lagMs > maxLagMs) {
    return `catching up: lag ${Math.round(status.lagMs / 1000)} s is over ${Math.round(maxLagMs / 1000)} s`;
  }
  return null;
}

/**
 * Wakes the replication loop when the capture trigger's NOTIFY arrives, so a
 * committed change replicates in milliseconds instead of at the next poll.
 * Best effort by design: polling stays the safety net, so a lost LISTEN
 * connection only costs latency; it is re-established with backoff.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { createClient } from '../db/connect.js';

export const NOTIFY_CHANNEL = 'pg_replicator';

export class ChangeNotifications {
  private client: pg.Client | undefined;
  private waiters: Array<() => void> = [];
  private pending = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 100;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.connect();
  }

  /** Resolves on the next notification (or one that arrived since the last wait), on wake(), or after timeoutMs. */
  wait(timeoutMs: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiter = () => {
        clearTimeout(timer);
        resolve();
      };
      function done() {
        resolve();
      }
      this.waiters.push(waiter);
    });
  }

  /** Releases waiters now (shutdown, or work known to be pending). */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    if (waiters.length === 0) this.pending = true;
    for (const w of waiters) w();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.wake();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = createClient(this.url, 'primary');
    client.on('notification', () => this.wake());
    client.on('error', () => this.reconnect(client));
    client.on('end', () => this.reconnect(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      this.client = client;
      this.retryDelayMs = 100;
      // Changes may have committed while we were not listening.
      this.wake();
    } catch (error) {
      this.log.debug({ err: String(error) }, 'LISTEN connection failed; polling continues');
      this.reconnect(client);
    }
  }

  private reconnect(client: pg.Client): void {
    if (this.stopped || (this.client !== undefined && this.client !== client)) return;
    this.client = undefined;
    client.removeAllListeners('end');
    client.end().catch(() => {});
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5000);
  }
}

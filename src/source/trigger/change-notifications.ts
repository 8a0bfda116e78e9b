/**
 * Wakes the replication loop when the capture's NOTIFY arrives, so a
 * committed change replicates in milliseconds instead of at the next poll.
 * Best effort by design: polling stays the safety net, so a lost LISTEN
 * connection only costs latency; it is re-established with backoff (each
 * reconnection is counted). A wait that times out removes its waiter, so a
 * later notification always reaches the current wait.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';

export const NOTIFY_CHANNEL = 'pg_replicator';

export class ChangeNotifications {
  private client: pg.Client | undefined;
  private waiter: (() => void) | undefined;
  private pending = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 100;
  /** LISTEN connections opened after the first (lost and re-established). */
  reconnections = 0;
  private connectedOnce = false;

  constructor(
    private readonly primary: Database,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.connect();
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Resolves on the next notification (or one that arrived since the last wait), on wake(), or after timeoutMs. */
  wait(timeoutMs: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    this.waiter?.();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.waiter === done) this.waiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiter = done;
    });
  }

  /** Releases the waiting loop now (a notification, shutdown, or work known to be pending). */
  wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter();
    else this.pending = true;
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
    let client: pg.Client | undefined;
    try {
      client = await this.primary.dedicated('listen');
      const opened = client;
      client.on('notification', () => this.wake());
      client.on('error', () => this.reconnect(opened));
      client.on('end', () => this.reconnect(opened));
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      if (this.stopped) {
        await client.end().catch(() => {});
        return;
      }
      this.client = client;
      this.retryDelayMs = 100;
      if (this.connectedOnce) this.reconnections++;
      this.connectedOnce = true;
      // Changes may have committed while we were not listening.
      this.wake();
    } catch (error) {
      this.log.debug({ err: String(error) }, 'LISTEN connection failed; polling continues');
      this.reconnect(client);
    }
  }

  private reconnect(client: pg.Client | undefined): void {
    if (this.stopped || (this.client !== undefined && this.client !== client)) return;
    this.client = undefined;
    client?.removeAllListeners('end');
    client?.end().catch(() => {});
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5000);
  }
}

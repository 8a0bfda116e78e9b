/**
 * A thin streaming-replication client of our own, on `pg` (a connection with
 * replication=database) and pg-copy-streams' COPY BOTH: START_REPLICATION of
 * one logical slot with pgoutput, text format.
 *
 * It confirms to the primary only the position it is told the replica holds
 * (confirm()), never what it merely received: the flush position it sends is
 * exactly that LSN (not LSN + 1), and a logical slot moves only with it. The
 * write position it sends is what it received (a primary shutting down waits
 * until its walsender's last position is reported written). Status updates go out when the primary asks
 * for one and every `statusIntervalMs` regardless, also while reading is
 * paused for backpressure (a slow or absent replica), so the primary never
 * drops the connection for silence. Values arrive as the text the primary's
 * output functions print, with the pinned session settings applied to this
 * session (so DateStyle, TimeZone, extra_float_digits, bytea_output and
 * IntervalStyle cannot change them).
 */
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import * as copyStreams from 'pg-copy-streams';
import { formatLsn, type Lsn, maxLsn } from './lsn.js';
import { decodePgOutput, type PgOutputMessage } from './pgoutput.js';

const both = (copyStreams as unknown as { both: (sql: string, options: { alignOnCopyDataFrame: boolean }) => Duplex }).both;

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000n;

export interface StreamHandlers {
  /** One decoded pgoutput message; `walEnd` of its XLogData. */
  onMessage(message: PgOutputMessage): void;
  /** A primary keepalive: everything before `walEnd` has been sent. */
  onKeepalive(walEnd: Lsn): void;
  /** The stream ended or failed; it is not restarted here. */
  onClose(error: Error | undefined): void;
}

export interface StreamOptions {
  /** Opens the replication connection (the primary's handle: pinned settings, errors classified). */
  connect: () => Promise<pg.Client>;
  slot: string;
  publication: string;
  /** Where to start; 0 starts at the slot's confirmed flush position. */
  start: Lsn;
  /** The longest gap between status updates (shorter when wal_sender_timeout asks). */
  statusIntervalMs: number;
}

/** Slot and publication names are ours, checked to be plain identifiers before they reach a command. */
export function checkName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain lower-case name: ${name}`);
  return name;
}

export class ReplicationStream {
  private confirmed: Lsn;
  /** The furthest position received (reported as written: a shutting-down primary waits for it; the slot moves only with flushed). */
  private received: Lsn = 0n;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly client: pg.Client,
    private readonly copy: Duplex,
    confirmed: Lsn,
  ) {
    this.confirmed = confirmed;
  }

  static async start(options: StreamOptions, handlers: StreamHandlers): Promise<ReplicationStream> {
    const client = await options.connect();
    // Status updates at least three times per wal_sender_timeout, so a paused stream is never timed out.
    const { rows } = await client.query<{ ms: number }>(
      "SELECT s.setting::int AS ms FROM pg_catalog.pg_settings s WHERE s.name = 'wal_sender_timeout'",
    );
    const timeoutMs = rows[0]?.ms ?? 0;
    const statusIntervalMs =
      timeoutMs > 0 ? Math.min(options.statusIntervalMs, Math.max(100, timeoutMs / 3)) : options.statusIntervalMs;
    const sql = `START_REPLICATION SLOT ${checkName(options.slot)} LOGICAL ${formatLsn(options.start)} (proto_version '1', publication_names '"${checkName(options.publication)}"', messages 'true')`;
    const copy = client.query(both(sql, { alignOnCopyDataFrame: true }) as unknown as pg.Submittable) as unknown as Duplex;
    // Nothing is confirmed until confirm() says so (0: no flush position; the slot never moves back).
    const stream = new ReplicationStream(client, copy, 0n);
    let failure: Error | undefined;
    const close = (error?: Error) => {
      failure ??= error;
      if (stream.closed) return;
      stream.closed = true;
      clearInterval(stream.timer);
      client.end().catch(() => {});
      handlers.onClose(failure);
    };
    copy.on('error', (error: Error) => close(error));
    client.on('error', (error: Error) => close(error));
    client.on('end', () => close(new Error('the replication connection ended')));
    copy.on('end', () => close(new Error('the primary ended the replication stream')));
    copy.on('data', (chunk: Buffer) => {
      try {
        const kind = chunk[0];
        if (kind === 0x77 /* w: XLogData */) {
          const walEnd = chunk.readBigUInt64BE(9);
          if (walEnd > stream.received) stream.received = walEnd;
          handlers.onMessage(decodePgOutput(chunk, 25));
        } else if (kind === 0x6b /* k: keepalive */) {
          const walEnd = chunk.readBigUInt64BE(1);
          if (walEnd > stream.received) stream.received = walEnd;
          if (chunk[17] === 1) stream.sendStatus();
          handlers.onKeepalive(walEnd);
        }
      } catch (error) {
        close(error as Error);
      }
    });
    stream.timer = setInterval(() => stream.sendStatus(), statusIntervalMs);
    stream.timer.unref();
    return stream;
  }

  /** Stops reading (backpressure); status updates continue. */
  pause(): void {
    this.copy.pause();
  }

  resume(): void {
    this.copy.resume();
  }

  /** The replica holds everything up to `lsn`: the slot may release WAL before it. Never moves back. */
  confirm(lsn: Lsn): void {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    this.sendStatus();
  }

  /** The furthest position received so far. */
  get receivedLsn(): Lsn {
    return this.received;
  }

  get confirmedLsn(): Lsn {
    return this.confirmed;
  }

  private sendStatus(): void {
    if (this.closed) return;
    const message = Buffer.alloc(34);
    message[0] = 0x72; // r: standby status update
    message.writeBigUInt64BE(maxLsn(this.received, this.confirmed), 1); // written: received
    message.writeBigUInt64BE(this.confirmed, 9); // flushed: what the replica committed, exactly
    message.writeBigUInt64BE(this.confirmed, 17); // applied
    message.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_US, 25);
    message[33] = 0;
    this.copy.write(message);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.client.end().catch(() => {});
  }
}

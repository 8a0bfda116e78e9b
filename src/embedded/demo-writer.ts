/**
 * The embedded demo's writer: while `replicator run` runs on its own local
 * servers, it inserts, updates and deletes a few users on the primary every
 * 1-3 s, so the dashboard and /metrics have something to show.
 *
 * It only touches the rows it made (emails @demo-writer.example), keeps at
 * most MAX_ROWS of them, and never touches the README demo's rows (Alice, Bob,
 * Charlie). DEMO_WRITER=false turns it off. A failed write (primary down,
 * table dropped) is logged at debug level and the next tick tries again.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { ReplicatorError } from '../errors.js';

export const DEMO_EMAIL_DOMAIN = 'demo-writer.example';
const MIN_ROWS = 5;
const MAX_ROWS = 30;

const FIRST = ['Ada', 'Grace', 'Linus', 'Margaret', 'Edsger', 'Barbara', 'Ken', 'Frances', 'Donald', 'Radia', 'Dennis', 'Sophie'];
const LAST = [
  'Lovelace',
  'Hopper',
  'Torvalds',
  'Hamilton',
  'Dijkstra',
  'Liskov',
  'Thompson',
  'Allen',
  'Knuth',
  'Perlman',
  'Ritchie',
  'Wilson',
];

/** DEMO_WRITER: on unless set to false (or 0, no, off). */
export function demoWriterEnabled(env: NodeJS.ProcessEnv): boolean {
  const value = (env.DEMO_WRITER ?? '').trim().toLowerCase();
  if (value === '' || ['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  throw new ReplicatorError('CONFIG_INVALID', `DEMO_WRITER: "${env.DEMO_WRITER}" is not true or false`);
}

export interface DemoWriterOptions {
  /** Pause between two writes, chosen at random between these (ms). */
  minDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
}

export interface DemoWriter {
  /** Writes done so far (statements that changed at least one row). */
  readonly writes: number;
  stop(): Promise<void>;
}

export function startDemoWriter(primaryUrl: string, log: Logger, options: DemoWriterOptions = {}): DemoWriter {
  const { minDelayMs = 1000, maxDelayMs = 3000, random = Math.random } = options;
  const pool = new pg.Pool({
    connectionString: primaryUrl,
    application_name: 'pg-replicator demo writer',
    connectionTimeoutMillis: 5000,
    max: 1,
  });
  pool.on('error', () => {});
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  let serial = 0;
  /** first.last.<unique token>: unique per call, so emails never collide (email is UNIQUE). */
  const localPart = (first: string, last: string) =>
    `${first}.${last}.${Date.now().toString(36)}${(serial++).toString(36)}`.toLowerCase();
  const mine = `email LIKE '%@${DEMO_EMAIL_DOMAIN}'`;

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let writes = 0;
  let failing = false;

  async function insert(n: number): Promise<number> {
    const names: string[] = [];
    const emails: string[] = [];
    for (let i = 0; i < n; i++) {
      const first = pick(FIRST);
      const last = pick(LAST);
      names.push(`${first} ${last}`);
      emails.push(`${localPart(first, last)}@${DEMO_EMAIL_DOMAIN}`);
    }
    const result = await pool.query(
      'INSERT INTO users (name, email) SELECT * FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]))',
      [names, emails],
    );
    return result.rowCount ?? 0;
  }

  async function update(n: number): Promise<number> {
    const first = pick(FIRST);
    const last = pick(LAST);
    const result = await pool.query(
      `UPDATE users SET name = $1, email = CASE WHEN random() < 0.5 THEN $2 || user_id || '@${DEMO_EMAIL_DOMAIN}' ELSE email END
       WHERE user_id IN (SELECT user_id FROM users WHERE ${mine} ORDER BY random() LIMIT $3)`,
      [`${first} ${last}`, `${localPart(first, last)}.`, n],
    );
    return result.rowCount ?? 0;
  }

  async function remove(n: number): Promise<number> {
    const result = await pool.query(
      `DELETE FROM users WHERE user_id IN (SELECT user_id FROM users WHERE ${mine} ORDER BY user_id LIMIT $1)`,
      [n],
    );
    return result.rowCount ?? 0;
  }

  async function tick(): Promise<void> {
    try {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE ${mine}`);
      const count = rows[0]?.n ?? 0;
      const dice = random();
      let changed: number;
      if (count < MIN_ROWS) changed = await insert(between(1, 3));
      else if (count >= MAX_ROWS) changed = await remove(between(2, 4));
      else if (dice < 0.45) changed = await insert(between(1, 3));
      else if (dice < 0.8) changed = await update(between(1, 2));
      else changed = await remove(between(1, 2));
      writes += changed > 0 ? 1 : 0;
      if (failing) log.debug('demo writer: writing again');
      failing = false;
    } catch (error) {
      if (!failing) log.debug({ err: String(error) }, 'demo writer: a write failed; trying again in a moment');
      failing = true;
    }
  }

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        running = tick().finally(schedule);
      },
      between(minDelayMs, maxDelayMs),
    );
  };
  schedule();
  log.info(
    `demo writer: changing a few users (emails @${DEMO_EMAIL_DOMAIN}) every ${minDelayMs / 1000}-${maxDelayMs / 1000} s; DEMO_WRITER=false turns it off`,
  );

  return {
    get writes() {
      return writes;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await pool.end().catch(() => {});
    },
  };
}

/**
 * memory, one large row: the replicator process's peak resident memory while
 * it replicates a single row whose one value is `memoryRowBytes` (10 MB):
 * one INSERT of the row, then one UPDATE that rewrites the whole value.
 * Memory must be bounded by bytes, not rows: the 200,000-row case (memory.ts)
 * never shows a row this size.
 *
 * Invariant: after each step the replica's value equals the primary's byte for
 * byte (octet_length and md5 of the value itself, on both servers), and the
 * frame's row-by-row check runs at the end; the figure is VmHWM, the kernel's
 * high-water mark for the process's whole life (start-up included), and VmRSS
 * is sampled every 10 ms as well.
 *
 * Two kinds of value: `text`, whose row text (10 MB) is under the default
 * BATCH_BYTES (16 MB), so the replicator carries it inline (one array literal
 * read from the primary and sent to the replica), and `bytea`, whose text form
 * is hex (20 MB), over BATCH_BYTES, so the replicator streams it (staged
 * batch). The values are generated on the primary (md5 text, which TOAST
 * cannot compress much), so the benchmark's own process holds none of them.
 */
import type pg from 'pg';
import { BenchFailure, now, round, sleep, waitUntil } from '../measure.js';
import type { ReplicationMethod } from '../methods.js';
import { sampleRss } from '../rss-sampler.js';
import type { RunDatabases } from '../servers.js';
import type { BenchContext, Checked, RunSetup } from '../workload.js';
import { runOnce } from '../workload.js';

export const ROW_VALUE_KINDS = ['text', 'bytea'] as const;
export type RowValueKind = (typeof ROW_VALUE_KINDS)[number];

export interface MemoryRowFigures {
  kind: RowValueKind;
  /** Bytes of the value (octet_length on the primary). */
  valueBytes: number;
  /** VmHWM at the end: the figure the target applies to. */
  peakRssMB: number;
  idleRssMB: number;
  /** Highest VmRSS sample during the insert and the update. */
  sampledPeakRssMB: number;
  /** Commit to the row visible on the replica. */
  insertCatchUpMs: number;
  updateCatchUpMs: number;
}

const BLOBS = 'bench.blobs';

const createBlobs = (kind: RowValueKind) => `
  CREATE SCHEMA bench;
  CREATE TABLE ${BLOBS} (
    id      bigint PRIMARY KEY,
    version int NOT NULL,
    body    ${kind} NOT NULL
  );`;

/** Exactly `bytes` bytes, from md5 of (seed, counter): 32 hex characters (text) or 16 bytes (bytea) per md5. */
function valueSql(kind: RowValueKind): string {
  return kind === 'text'
    ? `(SELECT pg_catalog.left(pg_catalog.string_agg(pg_catalog.md5($2 || ':' || g), '' ORDER BY g), $1)
        FROM pg_catalog.generate_series(1, ($1 + 31) / 32) g)`
    : `(SELECT pg_catalog.substr(pg_catalog.decode(pg_catalog.string_agg(pg_catalog.md5($2 || ':' || g), '' ORDER BY g), 'hex'), 1, $1)
        FROM pg_catalog.generate_series(1, ($1 + 15) / 16) g)`;
}

interface Fingerprint {
  version: number;
  bytes: number;
  md5: string;
}

async function fingerprint(client: pg.ClientBase): Promise<Fingerprint | undefined> {
  const { rows } = await client.query<{ version: number; bytes: number; md5: string }>(
    `SELECT version, pg_catalog.octet_length(body) AS bytes, pg_catalog.md5(body) AS md5 FROM ${BLOBS} WHERE id = 1`,
  );
  return rows[0];
}

/** Waits until the replica holds `version` of the row, then checks its value equals the primary's byte for byte. */
async function replicated(db: RunDatabases, version: number, what: string, timeoutMs: number): Promise<number> {
  const arrived = await waitUntil(
    `${what}: the replica holds version ${version} of the row`,
    async () => {
      const { rows } = await db.replica.query<{ version: number }>(`SELECT version FROM ${BLOBS} WHERE id = 1`);
      return rows[0]?.version === version;
    },
    timeoutMs,
    5,
  );
  const [p, r] = await Promise.all([fingerprint(db.primary), fingerprint(db.replica)]);
  if (!p || !r || p.version !== r.version || p.bytes !== r.bytes || p.md5 !== r.md5) {
    throw new BenchFailure(
      `${what}: the replica's value differs from the primary's (primary ${p?.bytes} bytes md5 ${p?.md5}, replica ${r?.bytes} bytes md5 ${r?.md5})`,
    );
  }
  return arrived;
}

export function runMemoryRow(
  ctx: BenchContext,
  method: ReplicationMethod,
  kind: RowValueKind,
  nodeFlags: readonly string[] = [],
): Promise<MemoryRowFigures & Checked> {
  const bytes = ctx.sizes.memoryRowBytes;
  const what = `memory: one ${round(bytes / 1e6)} MB ${kind} row`;
  const setup: RunSetup = {
    tables: [{ table: BLOBS, key: ['id'], columns: ['id', 'version', 'body'] }],
    create: async (db) => {
      await db.primary.query(createBlobs(kind));
      await db.replica.query(createBlobs(kind));
    },
    spawn: { nodeFlags },
  };
  return runOnce(ctx, method, `${what}, inserted then updated, replicator process sampled`, setup, async (db, run) => {
    const child = run.process;
    if (!child) throw new BenchFailure(`${what}: method ${method.name} has no process of its own`);
    await sleep(500); // let start-up garbage settle before reading the idle figure
    const idleRssMB = child.memory().rssMB;
    const sampler = sampleRss(child, 10);
    try {
      await db.primary.query(`INSERT INTO ${BLOBS} (id, version, body) VALUES (1, 1, ${valueSql(kind)})`, [bytes, 'v1']);
      const inserted = now();
      const insertArrived = await replicated(db, 1, `${what}, insert`, ctx.sizes.timeoutMs);
      await db.primary.query(`UPDATE ${BLOBS} SET version = 2, body = ${valueSql(kind)} WHERE id = 1`, [bytes, 'v2']);
      const updated = now();
      const updateArrived = await replicated(db, 2, `${what}, update`, ctx.sizes.timeoutMs);
      const sampled = await sampler.stop();
      const valueBytes = (await fingerprint(db.primary))?.bytes ?? Number.NaN;
      if (valueBytes !== bytes) throw new BenchFailure(`${what}: the primary's value is ${valueBytes} bytes, not ${bytes}`);
      return {
        kind,
        valueBytes,
        peakRssMB: round(child.memory().peakMB),
        idleRssMB: round(idleRssMB),
        sampledPeakRssMB: round(Math.max(idleRssMB, sampled.highMB)),
        insertCatchUpMs: round(insertArrived - inserted),
        updateCatchUpMs: round(updateArrived - updated),
      };
    } finally {
      await sampler.stop();
    }
  });
}

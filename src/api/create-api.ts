/**
 * The HTTP API: the Go demo's GET /status and GET /health, same names and
 * types, with our figures beside them. Route schemas double as documentation
 * and as response serializers (unknown fields are never leaked).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { unhealthyReason } from '../replication/health-monitor.js';
import type { ReplicationStatus } from '../replication/replication-status.js';

const nullable = (type: string) => ({ type: [type, 'null'] });

const statusSchema = {
  type: 'object',
  properties: {
    last_lsn: { type: 'string', description: 'Highest change id applied to the replica' },
    last_sync_time: { ...nullable('string'), format: 'date-time' },
    records_replicated: { type: 'integer', description: 'Changes applied since this process started' },
    error_count: { type: 'integer' },
    last_error: nullable('string'),
    is_running: { type: 'boolean' },
    state: { type: 'string', enum: ['starting', 'running', 'failing', 'stopped'] },
    lag_ms: nullable('number'),
    backlog: nullable('integer'),
    batches: { type: 'integer' },
    last_error_code: nullable('string'),
    last_error_time: nullable('string'),
    primary_reachable: nullable('boolean'),
    replica_reachable: nullable('boolean'),
    started_at: { type: 'string' },
    tables: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          table: { type: 'string' },
          changes_replicated: { type: 'integer' },
          last_change_time: nullable('string'),
        },
      },
    },
  },
} as const;

const healthSchema = {
  type: 'object',
  properties: { status: { type: 'string', enum: ['ok', 'unhealthy'] }, reason: { type: 'string' } },
  required: ['status'],
} as const;

export function createApi(status: ReplicationStatus): FastifyInstance {
  const app = Fastify({ logger: false });

  app.get('/status', { schema: { response: { 200: statusSchema } } }, async () => status.snapshot());

  app.get('/health', { schema: { response: { 200: healthSchema, 503: healthSchema } } }, async (_request, reply) => {
    const reason = unhealthyReason(status);
    if (reason === null) return { status: 'ok' };
    return reply.code(503).send({ status: 'unhealthy', reason });
  });

  return app;
}

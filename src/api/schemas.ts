/**
 * JSON Schemas of the API's answers. Fastify serializes with them (a field
 * not listed here never leaves the process) and @fastify/swagger publishes
 * them in /openapi.json, so the document cannot drift from what is sent.
 */
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra });

export const statusSchema = {
  type: 'object',
  properties: {
    last_lsn: { type: 'string', description: 'Highest change id applied to the replica (change_id of user_changes, as text)' },
    last_sync_time: nullable('string', { format: 'date-time', description: 'When the last batch was committed on the replica' }),
    records_replicated: { type: 'integer', description: 'Changes applied since this process started' },
    error_count: { type: 'integer', description: 'Failed replication attempts since this process started' },
    last_error: nullable('string', { description: 'The last failure, null when there was none' }),
    is_running: { type: 'boolean', description: 'false once stopped' },
    state: {
      type: 'string',
      enum: ['starting', 'running', 'failing', 'stopped'],
      description: 'failing: the last attempt failed and is being retried with backoff',
    },
    lag_ms: nullable('number', {
      description:
        'Capture (primary) to replica commit of the oldest change in the last batch, in ms; 0 when caught up; null until the first attempt',
    }),
    last_batch_lag_ms: nullable('number', {
      description: 'The same for the last batch committed, kept once caught up; null before the first batch',
    }),
    backlog: nullable('integer', {
      description:
        'Captured changes the replica does not hold yet; null until first counted. Logical mode: the changes received from the slot and not yet on the replica (WAL not yet decoded: retained_wal_bytes)',
    }),
    batches: { type: 'integer', description: 'Batches committed on the replica since this process started' },
    capture_mode: {
      type: 'string',
      enum: ['trigger', 'logical'],
      description: 'How changes are captured (CAPTURE_MODE, auto resolved)',
    },
    retained_wal_bytes: nullable('integer', {
      description:
        'Logical mode only: bytes of WAL the replication slot holds back on the primary (pg_current_wal_lsn() - confirmed_flush_lsn); null until first read',
    }),
    last_error_code: nullable('string', {
      description:
        'Stable code of the last failure (DATABASE_UNREACHABLE, AUTH_FAILED, SCHEMA_MISSING, SCHEMA_MISMATCH, CHANGE_REJECTED, CHANGE_LOG_INVALID, INTERNAL)',
    }),
    last_error_time: nullable('string', { format: 'date-time' }),
    primary_reachable: nullable('boolean', { description: 'Last health check of the primary; null before the first' }),
    replica_reachable: nullable('boolean', { description: 'Last health check of the replica; null before the first' }),
    started_at: { type: 'string', format: 'date-time', description: 'When this process started' },
    tables: {
      type: 'array',
      description: 'Tables that had changes replicated since this process started',
      items: {
        type: 'object',
        properties: {
          table: { type: 'string', description: 'Table name (schema-qualified outside public)' },
          changes_replicated: { type: 'integer' },
          last_change_time: nullable('string', { format: 'date-time', description: 'When its last change reached the replica' }),
        },
        required: ['table', 'changes_replicated', 'last_change_time'],
      },
    },
    verify: {
      type: 'object',
      description:
        'Continuous verification (absent when VERIFY_SHARE=0): rows confirmed to differ, and the last full pass, per table',
      properties: {
        share: { type: 'number', description: 'VERIFY_SHARE: the most of the wall time its work takes' },
        work_seconds: { type: 'number', description: 'Time spent working since it started' },
        started_at: { type: 'string', format: 'date-time' },
        tables: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              table: { type: 'string' },
              divergent_rows: {
                type: 'integer',
                description: 'Rows confirmed to differ (once the replica reached the position they were seen at: never lag)',
              },
              divergent_truncated: {
                type: 'boolean',
                description: 'More rows differ than are kept (1,000): divergent_rows is a lower bound',
              },
              divergent: {
                type: 'array',
                description: 'The first 20 of them, oldest first',
                items: {
                  type: 'object',
                  properties: {
                    key: {
                      type: 'string',
                      description: 'The key columns as JSON object text, as the server prints them (exact: never parsed)',
                    },
                    kind: {
                      type: 'string',
                      enum: ['missing', 'extra', 'different'],
                      description: 'missing on the replica, extra on the replica, or different',
                    },
                    since: { type: 'string', format: 'date-time', description: 'When it was first confirmed' },
                  },
                  required: ['key', 'kind', 'since'],
                },
              },
              last_full_pass: nullable('string', {
                format: 'date-time',
                description: 'When the last complete pass over the table ended',
              }),
              full_passes: { type: 'integer', description: 'Complete passes since this process started' },
              pass_rows: { type: 'integer', description: 'Rows compared so far in the pass under way' },
              last_pass_rows: nullable('integer', { description: "Rows the last full pass compared (the primary's count)" }),
              note: nullable('string', { description: 'Why the table is not compared now (schema, initial copy not finished)' }),
            },
            required: [
              'table',
              'divergent_rows',
              'divergent_truncated',
              'divergent',
              'last_full_pass',
              'full_passes',
              'pass_rows',
              'last_pass_rows',
              'note',
            ],
          },
        },
      },
      required: ['share', 'work_seconds', 'started_at', 'tables'],
    },
    initial_copy: {
      type: 'array',
      description: 'Progress of the initial copy of existing rows, per table (absent when no copy ran)',
      items: {
        type: 'object',
        properties: {
          table: { type: 'string' },
          rows_done: { type: 'integer', description: 'Rows copied so far' },
          rows_estimated: nullable('integer', { description: "The planner's estimate of the table's rows; null when unknown" }),
          rate: { type: 'number', description: 'Rows per second since the copy of this table started' },
        },
        required: ['table', 'rows_done', 'rows_estimated', 'rate'],
      },
    },
  },
  required: [
    'last_lsn',
    'last_sync_time',
    'records_replicated',
    'error_count',
    'last_error',
    'is_running',
    'state',
    'lag_ms',
    'last_batch_lag_ms',
    'backlog',
    'batches',
    'last_error_code',
    'last_error_time',
    'primary_reachable',
    'replica_reachable',
    'started_at',
    'tables',
  ],
} as const;

export const healthSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded', 'unhealthy'] },
    reason: {
      type: 'string',
      description:
        'Why it is not healthy (or not ready, or degraded): primary database unreachable, replica database unreachable, replication failing (followed by `: <error>` on /health when the API has no token), replication stopped, starting, catching up: lag … (/health/ready); degraded: replica differs from primary (followed by `: <table> (<rows>: <keys>)` when the API has no token)',
    },
  },
  required: ['status'],
} as const;

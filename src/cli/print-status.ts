/**
 * `replicator status`: the running service's /status as a readable table (or
 * the raw JSON with --json). Exits with REPLICATION_FAILING's code (11) while
 * replication is failing, 0 otherwise.
 */
import { ERROR_CODES, ReplicatorError } from '../errors.js';
import type { StatusSnapshot } from '../replication/replication-status.js';

const numbers = new Intl.NumberFormat('en-US');

function duration(ms: number): string {
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  return `${Math.floor(minutes / 1440)} d ${Math.floor((minutes % 1440) / 60)} h`;
}

/** "2025-12-09T10:30:15.123Z (3.2 s ago)", or `never`. */
function when(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  return `${iso} (${duration(Math.max(0, now - Date.parse(iso)))} ago)`;
}

function paint(color: 'green' | 'red' | 'yellow' | 'dim', text: string, enabled: boolean): string {
  if (!enabled) return text;
  const codes = { green: 32, red: 31, yellow: 33, dim: 2 };
  return `\x1b[${codes[color]}m${text}\x1b[0m`;
}

function columns(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** The table `replicator status` prints (exported for tests). */
export function formatStatus(status: StatusSnapshot, apiUrl: string, now = Date.now(), color = false): string {
  const stateColor = status.state === 'running' ? 'green' : status.state === 'failing' ? 'red' : 'yellow';
  const reachable = (value: boolean | null) =>
    value === null ? 'not checked yet' : value ? 'reachable' : paint('red', 'unreachable', color);
  const lastError =
    status.last_error === null
      ? '-'
      : `[${status.last_error_code ?? 'ERROR'}] ${status.last_error} (${when(status.last_error_time, now)})`;
  const rows: string[][] = [
    ['state', paint(stateColor, status.state, color)],
    ['records replicated', numbers.format(status.records_replicated)],
    ['last change id (last_lsn)', status.last_lsn],
    ['last sync', when(status.last_sync_time, now)],
    [
      'lag',
      status.lag_ms === null
        ? 'unknown'
        : status.lag_ms === 0 && status.last_batch_lag_ms !== null && status.last_batch_lag_ms !== undefined
          ? `0 ms (caught up; last batch ${duration(status.last_batch_lag_ms)})`
          : duration(status.lag_ms),
    ],
    ['backlog', status.backlog === null ? 'unknown' : `${numbers.format(status.backlog)} change(s)`],
    // Logical mode only: trigger mode's table is unchanged.
    ...(status.capture_mode === 'logical'
      ? [
          ['capture', 'logical (WAL, slot)'],
          [
            'retained WAL',
            typeof status.retained_wal_bytes === 'number'
              ? `${numbers.format(Math.round(status.retained_wal_bytes / 1024))} kB held by the slot`
              : 'unknown',
          ],
        ]
      : []),
    ['batches', numbers.format(status.batches)],
    ['primary', reachable(status.primary_reachable)],
    ['replica', reachable(status.replica_reachable)],
    ['errors', numbers.format(status.error_count)],
    ['last error', status.state === 'failing' ? paint('red', lastError, color) : lastError],
    ['running since', when(status.started_at, now)],
  ];
  const out = [`pg-replicator at ${apiUrl}`, '', columns(rows)];

  if (status.tables.length > 0) {
    out.push(
      '',
      columns([
        ['table', 'changes', 'last change'],
        ...status.tables.map((t) => [t.table, numbers.format(t.changes_replicated), when(t.last_change_time, now)]),
      ]),
    );
  }
  if (status.initial_copy && status.initial_copy.length > 0) {
    out.push(
      '',
      columns([
        ['initial copy', 'rows', 'done', 'rate'],
        ...status.initial_copy.map((c) => {
          const estimated = c.rows_estimated !== null && c.rows_estimated > 0 ? c.rows_estimated : null;
          return [
            c.table,
            estimated === null ? numbers.format(c.rows_done) : `${numbers.format(c.rows_done)} / ~${numbers.format(estimated)}`,
            estimated === null ? '?' : `${Math.min(100, Math.floor((c.rows_done / estimated) * 100))}%`,
            `${numbers.format(Math.round(c.rate))} rows/s`,
          ];
        }),
      ]),
    );
  }
  return `${out.join('\n')}\n`;
}

export async function printStatus(apiUrl: string, json: boolean, token?: string): Promise<number> {
  const unavailable = (why: string) =>
    new ReplicatorError(
      'STATUS_UNAVAILABLE',
      `${why}; start the replicator with \`replicator run\` or pass --url with its HTTP_HOST:HTTP_PORT`,
    );
  let response: Response;
  try {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    response = await fetch(new URL('/status', apiUrl), { signal: AbortSignal.timeout(5000), headers });
  } catch {
    throw unavailable(`no replicator answers at ${apiUrl}`);
  }
  let status: StatusSnapshot;
  try {
    if (response.status === 401) {
      throw new ReplicatorError(
        'STATUS_UNAVAILABLE',
        `${apiUrl}/status needs the API token; set API_TOKEN to the replicator's token`,
      );
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    status = (await response.json()) as StatusSnapshot;
    if (typeof status.state !== 'string' || !Array.isArray(status.tables)) throw new Error('not a replicator status');
  } catch (error) {
    if (error instanceof ReplicatorError) throw error;
    throw unavailable(`${apiUrl}/status did not answer like a pg-replicator (${(error as Error).message})`);
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  } else {
    const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
    process.stdout.write(formatStatus(status, apiUrl, Date.now(), color));
  }
  return status.state === 'failing' ? ERROR_CODES.REPLICATION_FAILING.exit : 0;
}

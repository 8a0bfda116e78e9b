/** `replicator status`: the running service's /status as a table (or raw JSON). */
import { ReplicatorError } from '../errors.js';
import type { StatusSnapshot } from '../replication/replication-status.js';

export async function printStatus(apiUrl: string, json: boolean): Promise<number> {
  let response: Response;
  try {
    response = await fetch(new URL('/status', apiUrl), { signal: AbortSignal.timeout(5000) });
  } catch {
    throw new ReplicatorError(
      'STATUS_UNAVAILABLE',
      `no replicator answers at ${apiUrl}; start it with \`replicator run\` or pass --url with its HTTP_HOST:HTTP_PORT`,
    );
  }
  const status = (await response.json()) as StatusSnapshot;
  if (json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return 0;
  }
  const rows: Array<[string, string]> = [
    ['state', status.state],
    ['last change id (last_lsn)', status.last_lsn],
    ['last sync', status.last_sync_time ?? 'never'],
    ['records replicated', String(status.records_replicated)],
    ['lag', status.lag_ms === null ? 'unknown' : `${status.lag_ms.toFixed(1)} ms`],
    ['backlog', status.backlog === null ? 'unknown' : `${status.backlog} change(s)`],
    ['primary', status.primary_reachable === false ? 'unreachable' : 'reachable'],
    ['replica', status.replica_reachable === false ? 'unreachable' : 'reachable'],
    ['errors', String(status.error_count)],
    ['last error', status.last_error ?? '-'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
  for (const t of status.tables) {
    process.stdout.write(`table ${t.table}: ${t.changes_replicated} change(s), last ${t.last_change_time ?? 'never'}\n`);
  }
  return status.state === 'failing' ? 1 : 0;
}

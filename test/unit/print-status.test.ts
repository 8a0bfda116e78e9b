import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStatus } from '../../src/cli/print-status.js';
import type { StatusSnapshot } from '../../src/replication/replication-status.js';

const NOW = Date.parse('2025-12-09T10:30:20.000Z');
const base: StatusSnapshot = {
  last_lsn: '1234',
  last_sync_time: '2025-12-09T10:30:15.000Z',
  records_replicated: 12345,
  error_count: 0,
  last_error: null,
  is_running: true,
  state: 'running',
  lag_ms: 3.25,
  last_batch_lag_ms: 3.25,
  backlog: 0,
  batches: 42,
  last_error_code: null,
  last_error_time: null,
  primary_reachable: true,
  replica_reachable: true,
  started_at: '2025-12-09T10:00:00.000Z',
  tables: [{ table: 'users', changes_replicated: 12345, last_change_time: '2025-12-09T10:30:15.000Z' }],
};

describe('formatStatus', () => {
  it('shows the capture mode and the retained WAL in logical mode only', () => {
    assert.doesNotMatch(formatStatus(base, 'http://127.0.0.1:8080', NOW), /^capture/m);
    const out = formatStatus({ ...base, capture_mode: 'logical', retained_wal_bytes: 2_048_000 }, 'http://127.0.0.1:8080', NOW);
    assert.match(out, /^capture\s+logical \(WAL, slot\)$/m);
    assert.match(out, /^retained WAL\s+2,000 kB held by the slot$/m);
  });

  it('prints a readable table with the labels scripts match on', () => {
    const out = formatStatus(base, 'http://127.0.0.1:8080', NOW);
    assert.match(out, /^pg-replicator at http:\/\/127\.0\.0\.1:8080$/m);
    assert.match(out, /^state\s+running$/m);
    assert.match(out, /^records replicated\s+12,345$/m);
    assert.match(out, /^last change id \(last_lsn\)\s+1234$/m);
    assert.match(out, /^last sync\s+2025-12-09T10:30:15\.000Z \(5\.0 s ago\)$/m);
    assert.match(out, /^lag\s+3\.3 ms$/m);
    assert.match(out, /^backlog\s+0 change\(s\)$/m);
    assert.match(out, /^last error\s+-$/m);
    assert.match(out, /^running since\s+2025-12-09T10:00:00\.000Z \(30 min 20 s ago\)$/m);
    assert.match(out, /^table\s+changes\s+last change$/m);
    assert.match(out, /^users\s+12,345\s+2025-12-09T10:30:15\.000Z \(5\.0 s ago\)$/m);
    assert.doesNotMatch(out, /initial copy/);
    const caughtUp = formatStatus({ ...base, lag_ms: 0, last_batch_lag_ms: 1500 }, 'http://x', NOW);
    assert.match(caughtUp, /^lag\s+0 ms \(caught up; last batch 1\.5 s\)$/m);
    assert.ok(!out.includes('\u001b['), 'no colour unless asked');
  });

  it('shows a failure with its code and time, and unknown figures as such', () => {
    const out = formatStatus(
      {
        ...base,
        state: 'failing',
        error_count: 3,
        last_error: 'replica database …: new row violates check constraint "no_mallory"',
        last_error_code: 'CHANGE_REJECTED',
        last_error_time: '2025-12-09T10:30:19.000Z',
        lag_ms: null,
        backlog: null,
        primary_reachable: null,
        replica_reachable: false,
        tables: [],
      },
      'http://127.0.0.1:8080',
      NOW,
    );
    assert.match(out, /^state\s+failing$/m);
    assert.match(out, /^last error\s+\[CHANGE_REJECTED\] replica database .*no_mallory" \(.* \(1\.0 s ago\)\)$/m);
    assert.match(out, /^lag\s+unknown$/m);
    assert.match(out, /^backlog\s+unknown$/m);
    assert.match(out, /^primary\s+not checked yet$/m);
    assert.match(out, /^replica\s+unreachable$/m);
    assert.doesNotMatch(out, /^table\s/m);
  });

  it('shows initial-copy progress when there is some, and colours the state on a terminal', () => {
    const out = formatStatus(
      { ...base, initial_copy: [{ table: 'users', rows_done: 1200, rows_estimated: 5000, rate: 300.4 }] },
      'http://x',
      NOW,
      true,
    );
    assert.match(out, /^initial copy\s+rows\s+done\s+rate$/m);
    assert.match(out, /^users\s+1,200 \/ ~5,000\s+24%\s+300 rows\/s$/m);
    assert.ok(out.includes('\u001b[32mrunning\u001b[0m'), 'the state in green');
  });
});

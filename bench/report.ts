/**
 * Turns the raw figures into the one comparison table: workload, native,
 * ours, ratio (ours / native), and a pass/miss marker where the project has a
 * target. Rendered as plain text for the terminal and as Markdown for
 * BENCHMARKS.md.
 */
import type { BenchResults, Workloads } from './results.js';

export interface Row {
  workload: string;
  native: string;
  ours: string;
  ratio: string;
  target: string;
  /** undefined: no target for this row. */
  pass?: boolean;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : int(n)} ms`;
const rate = (n: number) => `${int(n)} rows/s`;
const times = (n: number) => `${n.toFixed(2)}x`;

function throughputRow(workload: string, native: number, ours: number, min: number): Row {
  const ratio = ours / native;
  return { workload, native: rate(native), ours: rate(ours), ratio: times(ratio), target: `>= ${min}x`, pass: ratio >= min };
}

function lagRows(label: string, w: Workloads['lag']): Row[] {
  const { native, ours } = { native: w.native.lagMs, ours: w.ours.lagMs };
  const row = (p: 'p50' | 'p95' | 'p99' | 'max'): Row => ({
    workload: `${label} ${p}`,
    native: ms(native[p]),
    ours: ms(ours[p]),
    ratio: times(ours[p] / native[p]),
    target: '',
  });
  const p50 = row('p50');
  const p99 = row('p99');
  return [
    { ...p50, target: '<= 3 ms', pass: ours.p50 <= 3 },
    row('p95'),
    { ...p99, target: '<= 10 ms, <= 3x', pass: ours.p99 <= 10 && ours.p99 / native.p99 <= 3 },
    row('max'),
  ];
}

export function buildRows(results: BenchResults): Row[] {
  const w = results.workloads;
  const rows: Row[] = [];
  if (w.bulk) {
    rows.push(
      throughputRow(
        `bulk: ${int(w.bulk.ours.rows)} rows in 1 tx, commit to caught up`,
        w.bulk.native.rowsPerSec,
        w.bulk.ours.rowsPerSec,
        1,
      ),
    );
  }
  if (w.oltp) {
    const { native, ours } = w.oltp;
    rows.push(
      throughputRow(`oltp: ${int(ours.transactions)} inserts, 8 conns, end to end`, native.rowsPerSec, ours.rowsPerSec, 0.95),
    );
    rows.push({
      workload: 'oltp: catch-up after last write',
      native: ms(native.catchUpMs),
      ours: ms(ours.catchUpMs),
      ratio: times(ours.catchUpMs / native.catchUpMs),
      target: '<= 100 ms',
      pass: ours.catchUpMs <= 100,
    });
  }
  if (w.update) {
    rows.push(
      throughputRow(
        `update: ${int(w.update.ours.transactions)} rows, 8 conns, end to end`,
        w.update.native.rowsPerSec,
        w.update.ours.rowsPerSec,
        1,
      ),
    );
  }
  if (w.delete) {
    rows.push(
      throughputRow(
        `delete: ${int(w.delete.ours.transactions)} rows, 8 conns, end to end`,
        w.delete.native.rowsPerSec,
        w.delete.ours.rowsPerSec,
        1,
      ),
    );
  }
  if (w.lag) rows.push(...lagRows(`lag @ ${int(w.lag.ours.targetRate)} tx/s:`, w.lag));
  if (w.capture) {
    const { bulk, single } = w.capture;
    rows.push({
      workload: `capture cost: ${int(bulk.rows)} rows in 1 tx (no capture vs capture)`,
      native: ms(bulk.withoutMs),
      ours: ms(bulk.withMs),
      ratio: times(bulk.ratio),
      target: '<= 1.5x',
      pass: bulk.ratio <= 1.5,
    });
    rows.push({
      workload: `capture cost: ${int(single.transactions)} single-row inserts, 8 conns`,
      native: ms(single.withoutMs),
      ours: ms(single.withMs),
      ratio: times(single.ratio),
      target: '<= 1.1x',
      pass: single.ratio <= 1.1,
    });
  }
  if (w.memory) {
    rows.push({
      workload: `memory: replicator peak RSS, bulk ${int(w.memory.rows)} rows`,
      native: '-',
      // One decimal: the figure sits close to its target, and a rounded 200 must not read as a pass at 200.4.
      ours: `${w.memory.peakRssMB.toFixed(1)} MB`,
      ratio: '-',
      target: '<= 200 MB',
      pass: w.memory.peakRssMB <= 200,
    });
  }
  if (w.seed) {
    const { lagMs, targetRate, pollInterval } = w.seed;
    rows.push({
      workload: `seed mode lag @ ${targetRate} tx/s, poll ${pollInterval}: p50 / p99`,
      native: '-',
      ours: `${ms(lagMs.p50)} / ${ms(lagMs.p99)}`,
      ratio: '-',
      target: '(reference)',
    });
  }
  return rows;
}

const HEADERS = ['workload', 'native', 'ours', 'ratio', 'target', ''] as const;

const cells = (row: Row): string[] => [
  row.workload,
  row.native,
  row.ours,
  row.ratio,
  row.target,
  row.pass === undefined ? '' : row.pass ? 'pass' : 'MISS',
];

export function renderText(rows: readonly Row[]): string {
  const table = [[...HEADERS], ...rows.map(cells)];
  const widths = HEADERS.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(table[0] as string[]), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

export function renderMarkdown(rows: readonly Row[]): string {
  const mark = (row: Row) => (row.pass === undefined ? '' : row.pass ? '✅ pass' : '❌ miss');
  const header = '| workload | native | ours | ratio (ours/native) | target | |\n|---|---:|---:|---:|---|---|';
  const body = rows.map((r) => `| ${r.workload} | ${r.native} | ${r.ours} | ${r.ratio} | ${r.target} | ${mark(r)} |`);
  return [header, ...body].join('\n');
}

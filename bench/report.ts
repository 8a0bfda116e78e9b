/**
 * Turns the raw figures into the one comparison table: workload, one column
 * per method, each later method's ratio to the first (the yardstick), the
 * target, and a pass/miss mark per method the target applies to. Rendered as
 * plain text for the terminal and as Markdown for BENCHMARKS.md.
 *
 * Targets apply to pg-replicator's methods, never to the yardstick. In the
 * capture-cost rows the yardstick's column holds the time with no capture at
 * all; in the pgbench "vs nothing replicating" row every method's column
 * holds its tps divided by the tps with nothing installed.
 */
import type { MethodName, PerMethod } from './methods.js';
import type { BenchResults } from './results.js';
import type { PgbenchResults } from './workloads/pgbench.js';

export interface Row {
  workload: string;
  cells: PerMethod<string>;
  /** Each non-yardstick method's ratio to the yardstick. */
  ratios: PerMethod<string>;
  target: string;
  /** Per method the target applies to. */
  pass: PerMethod<boolean>;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : int(n)} ms`;
const rate = (n: number) => `${int(n)} rows/s`;
const times = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');

interface Layout {
  methods: readonly MethodName[];
  /** The others' ratios are taken against it, and targets never apply to it; undefined when left out (--methods). */
  yardstick: MethodName | undefined;
}

/** A target: on the figure itself, on its ratio to the yardstick, or both. */
interface Judge {
  value?: (value: number) => boolean;
  ratio?: (ratio: number) => boolean;
}

/**
 * A row of one figure per method: `value` picks it, `format` prints it; the
 * ratio is each method's value over the yardstick's; `judge` (when given)
 * judges each non-yardstick method by its value and ratio.
 */
function figureRow(
  layout: Layout,
  workload: string,
  value: (m: MethodName) => number | undefined,
  format: (n: number) => string,
  target = '',
  judge?: Judge,
): Row {
  const row: Row = { workload, cells: {}, ratios: {}, target, pass: {} };
  const base = layout.yardstick ? value(layout.yardstick) : undefined;
  for (const m of layout.methods) {
    const v = value(m);
    row.cells[m] = v === undefined ? '-' : format(v);
    if (m === layout.yardstick || v === undefined) continue;
    const ratio = base === undefined ? Number.NaN : v / base;
    row.ratios[m] = times(ratio);
    if (!judge) continue;
    const byValue = judge.value?.(v) ?? true;
    if (judge.ratio && !Number.isFinite(ratio)) {
      // Without the yardstick (--methods) a ratio cannot be judged: a mark only when the value alone misses.
      if (!byValue) row.pass[m] = false;
    } else {
      row.pass[m] = byValue && (judge.ratio?.(ratio) ?? true);
    }
  }
  return row;
}

function pgbenchRows(layout: Layout, p: PgbenchResults): Row[] {
  const tps = (n: number) => `${int(n)} tps`;
  const rows = [
    figureRow(
      layout,
      `pgbench TPC-B (scale ${p.scale}, ${p.clients} clients, ${p.seconds} s): primary tps`,
      (m) => p.methods[m]?.tps,
      tps,
    ),
    figureRow(
      layout,
      `pgbench: tps ÷ tps with nothing replicating (${int(p.none.tps)} tps)`,
      (m) => p.methods[m]?.ratioToNone,
      times,
      '>= 0.8x',
      { value: (v) => v >= 0.8 },
    ),
    figureRow(layout, "pgbench: replica caught up after pgbench's end", (m) => p.methods[m]?.catchUpMs, ms),
    figureRow(
      layout,
      'pgbench: set-up and initial copy of the 4 tables',
      (m) => p.methods[m]?.readySeconds,
      (s) => `${s.toFixed(1)} s`,
    ),
  ];
  // Each cell of the "÷ nothing replicating" row is already a ratio: none between methods.
  const vsNone = rows[1];
  if (vsNone) vsNone.ratios = {};
  return rows;
}

export function buildRows(results: BenchResults): Row[] {
  const methods = results.methods;
  const yardstick = results.yardstick;
  const layout: Layout = { methods, yardstick };
  const w = results.workloads;
  const rows: Row[] = [];
  const row = (
    workload: string,
    value: (m: MethodName) => number | undefined,
    format: (n: number) => string,
    target?: string,
    judge?: Judge,
  ) => rows.push(figureRow(layout, workload, value, format, target, judge));
  const atLeast = (min: number): Judge => ({ ratio: (r) => r >= min });
  if (w.bulk) {
    const n = int(results.sizes.bulkRows);
    row(`bulk: ${n} rows in 1 tx, commit to caught up`, (m) => w.bulk?.[m]?.rowsPerSec, rate, '>= 0.8x', atLeast(0.8));
    row(
      `bulk: ${n} rows in 1 tx, insert start to caught up`,
      (m) => w.bulk?.[m]?.endToEndRowsPerSec,
      rate,
      '>= 0.8x',
      atLeast(0.8),
    );
  }
  if (w.oltp) {
    const n = int(results.sizes.oltpTransactions);
    row(`oltp: ${n} inserts, 8 conns, end to end`, (m) => w.oltp?.[m]?.rowsPerSec, rate, '>= 0.8x', atLeast(0.8));
    row('oltp: catch-up after last write', (m) => w.oltp?.[m]?.catchUpMs, ms, '<= 100 ms', { value: (v) => v <= 100 });
  }
  if (w.update) {
    const n = int(results.sizes.updateTransactions);
    row(`update: ${n} rows, 8 conns, end to end`, (m) => w.update?.[m]?.rowsPerSec, rate, '>= 0.8x', atLeast(0.8));
  }
  if (w.delete) {
    const n = int(results.sizes.deleteTransactions);
    row(`delete: ${n} rows, 8 conns, end to end`, (m) => w.delete?.[m]?.rowsPerSec, rate, '>= 0.8x', atLeast(0.8));
  }
  if (w.lag) {
    const label = `lag @ ${int(results.sizes.lagRate)} tx/s:`;
    const lag = (p: 'p50' | 'p95' | 'p99' | 'max') => (m: MethodName) => w.lag?.[m]?.lagMs[p];
    row(`${label} p50`, lag('p50'), ms, '<= 3 ms', { value: (v) => v <= 3 });
    row(`${label} p95`, lag('p95'), ms);
    row(`${label} p99`, lag('p99'), ms, '<= 10 ms, <= 3x', { value: (v) => v <= 10, ratio: (r) => r <= 3 });
    row(`${label} max`, lag('max'), ms);
  }
  if (w.capture) {
    const { bulk, single } = w.capture;
    // The yardstick's column holds the time with nothing installed; each ratio is with / without capture.
    const captureRow = (workload: string, kind: typeof bulk | typeof single, max: number): Row => {
      const r: Row = { workload, cells: {}, ratios: {}, target: `<= ${max}x`, pass: {} };
      if (yardstick) r.cells[yardstick] = ms(kind.withoutMs);
      for (const m of methods) {
        const t = kind.methods[m];
        if (m === yardstick || !t) continue;
        r.cells[m] = ms(t.withMs);
        r.ratios[m] = times(t.ratio);
        r.pass[m] = t.ratio <= max;
      }
      return r;
    };
    const none = yardstick ? `${yardstick} column: no capture` : `no capture: ${ms(bulk.withoutMs)}`;
    rows.push(captureRow(`capture cost: ${int(bulk.rows)} rows in 1 tx (${none})`, bulk, 1.5));
    const noneSingle = yardstick ? '' : ` (no capture: ${ms(single.withoutMs)})`;
    rows.push(
      captureRow(
        `capture cost: ${int(single.transactions)} single-row inserts, ${single.connections} conns${noneSingle}`,
        single,
        1.2,
      ),
    );
  }
  if (w.memory) {
    const n = int(results.sizes.memoryBulkRows);
    // One decimal: the figure sits close to its target, and a rounded 200 must not read as a pass at 200.4.
    const r = figureRow(
      layout,
      `memory: replicator peak RSS, bulk ${n} rows`,
      (m) => w.memory?.[m]?.peakRssMB,
      (v) => `${v.toFixed(1)} MB`,
      '<= 200 MB',
      { value: (v) => v <= 200 },
    );
    r.ratios = {};
    rows.push(r);
  }
  if (w.memoryRow) {
    const mb = (results.sizes.memoryRowBytes / 1e6).toLocaleString('en-US');
    for (const [kind, figures] of Object.entries(w.memoryRow)) {
      const how = kind === 'text' ? 'inline' : 'streamed';
      const r = figureRow(
        layout,
        `memory: replicator peak RSS, one ${mb} MB ${kind} row (${how}), insert + update`,
        (m) => figures?.[m]?.peakRssMB,
        (v) => `${v.toFixed(1)} MB`,
        '<= 200 MB',
        { value: (v) => v <= 200 },
      );
      r.ratios = {};
      rows.push(r);
    }
  }
  if (w.seed) {
    const { lagMs, targetRate, pollInterval } = w.seed;
    rows.push({
      workload: `seed mode lag @ ${targetRate} tx/s, poll ${pollInterval}: p50 / p99`,
      cells: { ours: `${ms(lagMs.p50)} / ${ms(lagMs.p99)}` },
      ratios: {},
      target: '(reference)',
      pass: {},
    });
  }
  if (w.pgbench) {
    if ('skipped' in w.pgbench) {
      rows.push({ workload: `pgbench: skipped (${w.pgbench.skipped})`, cells: {}, ratios: {}, target: '', pass: {} });
    } else {
      rows.push(...pgbenchRows(layout, w.pgbench));
    }
  }
  return rows;
}

interface Column {
  header: string;
  cell: (row: Row) => string;
  alignLeft?: boolean;
}

function columns(methods: readonly MethodName[], yardstick: MethodName | undefined, mark: (passed: boolean) => string): Column[] {
  const cols: Column[] = [{ header: 'workload', cell: (r) => r.workload, alignLeft: true }];
  for (const m of methods) {
    cols.push({ header: m, cell: (r) => r.cells[m] ?? '-' });
    if (yardstick && m !== yardstick) cols.push({ header: `ratio (${m}/${yardstick})`, cell: (r) => r.ratios[m] ?? '-' });
  }
  const several = methods.filter((m) => m !== yardstick).length > 1;
  cols.push({ header: 'target', cell: (r) => r.target, alignLeft: true });
  cols.push({
    header: '',
    alignLeft: true,
    cell: (r) =>
      Object.entries(r.pass)
        .map(([m, passed]) => (several ? `${m}: ${mark(passed)}` : mark(passed)))
        .join(', '),
  });
  return cols;
}

export function renderText(methods: readonly MethodName[], yardstick: MethodName | undefined, rows: readonly Row[]): string {
  const cols = columns(methods, yardstick, (passed) => (passed ? 'pass' : 'MISS'));
  const table = [cols.map((c) => c.header), ...rows.map((r) => cols.map((c) => c.cell(r)))];
  const widths = cols.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (cols[i]?.alignLeft ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(table[0] as string[]), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

export function renderMarkdown(methods: readonly MethodName[], yardstick: MethodName | undefined, rows: readonly Row[]): string {
  const cols = columns(methods, yardstick, (passed) => (passed ? '✅ pass' : '❌ miss'));
  const header = `| ${cols.map((c) => c.header).join(' | ')} |\n|${cols.map((c) => (c.alignLeft ? '---' : '---:')).join('|')}|`;
  const body = rows.map((r) => `| ${cols.map((c) => c.cell(r)).join(' | ')} |`);
  return [header, ...body].join('\n');
}

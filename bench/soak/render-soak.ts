/**
 * The soak's samples as a plain-text table (one line per minute sample) and
 * its verdict below it. Invariant: the table shows every sample taken, in
 * order, failed runs included, and the verdict lines say what the exit code
 * is based on.
 */
import type { SoakVerdict } from './judge-soak.js';
import type { SoakSample } from './take-sample.js';

const cell = (v: number | string | null) => (v === null ? '-' : typeof v === 'number' ? v.toLocaleString('en-US') : v);

export function renderSamples(samples: readonly SoakSample[]): string {
  const header = [
    'minute',
    'VmRSS MB',
    'low MB',
    'high MB',
    'VmHWM MB',
    'tx/s',
    'state',
    'lag ms',
    'last batch lag ms',
    'backlog',
    'batches',
    'errors',
    'load avg',
  ];
  const rows = samples.map((s) => [
    s.minute === 0 ? '0 (start)' : String(s.minute),
    cell(s.rssMB),
    cell(s.lowRssMB),
    cell(s.highRssMB),
    cell(s.peakMB),
    cell(s.ratePerSec),
    cell(s.state),
    cell(s.lagMs),
    cell(s.lastBatchLagMs),
    cell(s.backlog),
    cell(s.batches),
    cell(s.errorCount),
    cell(s.loadAverage),
  ]);
  const table = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 0 || i === 6 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function renderVerdict(verdict: SoakVerdict): string {
  const g = verdict.growth;
  const lines = [
    `warm-up: ${verdict.warmupMinutes} minute(s); growth judged on the median VmRSS of minutes ${g.firstMinutes.join(', ') || '-'} against minutes ${g.lastMinutes.join(', ') || '-'}`,
    `memory: ${g.firstMedianMB} MB -> ${g.lastMedianMB} MB (${g.growthMB >= 0 ? '+' : ''}${g.growthMB} MB, ${g.growthPercent >= 0 ? '+' : ''}${g.growthPercent}%; limit +${g.limitMB} MB)`,
    `replication after warm-up: highest backlog ${verdict.maxBacklog ?? '-'} changes, highest lag ${verdict.maxLagMs ?? '-'} ms; at the end ${verdict.finalBacklog ?? '-'} changes, ${verdict.finalLagMs ?? '-'} ms`,
  ];
  if (verdict.failures.length === 0) lines.push('PASS');
  else lines.push(...verdict.failures.map((f) => `FAIL: ${f}`));
  return lines.join('\n');
}

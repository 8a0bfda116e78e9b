/**
 * What `replicator verify` prints: one block per table as it is done and a
 * summary line, or (--json) one JSON document. Keys are the servers' own JSON
 * text of the key columns, embedded as they are (never parsed, so a bigint
 * key stays exact).
 */
import { randomBytes } from 'node:crypto';
import type { TableReport, VerifyReport } from './verify.js';

const LISTED_PER_KIND = 20;
const LABEL_WIDTH = 26;

const count = (n: number) => n.toLocaleString('en-US');
const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function differenceCount(t: TableReport): number {
  return t.missing.length + t.extra.length + t.different.length;
}

function listKeys(label: string, keys: readonly string[]): string[] {
  const shown = keys.slice(0, LISTED_PER_KIND).map((k) => `  ${label.padEnd(LABEL_WIDTH)} ${k}`);
  if (keys.length > LISTED_PER_KIND)
    shown.push(`  ${''.padEnd(LABEL_WIDTH)} … and ${count(keys.length - LISTED_PER_KIND)} more (--json lists all)`);
  return shown;
}

export function formatTable(t: TableReport): string {
  if (t.status === 'skipped' || t.status === 'error') return `${t.table}: ${t.status}: ${t.message}\n`;
  const rows =
    t.rows.primary === t.rows.replica
      ? plural(t.rows.primary, 'row')
      : `${plural(t.rows.primary, 'row')} (replica ${count(t.rows.replica)})`;
  const head = `${t.table}: ${rows}, ${plural(t.ranges, 'range')}`;
  const lines: string[] = [];
  const n = differenceCount(t);
  if (t.status === 'identical') lines.push(`${head}: identical (${seconds(t.elapsedMs)})`);
  else {
    const kinds = [
      t.missing.length > 0 ? `${count(t.missing.length)} missing on replica` : '',
      t.extra.length > 0 ? `${count(t.extra.length)} extra on replica` : '',
      t.different.length > 0 ? `${count(t.different.length)} different` : '',
    ].filter(Boolean);
    const found = n > 0 ? `${plural(n, 'difference')} (${kinds.join(', ')})` : '';
    const unjudged = t.unconfirmed.length > 0 ? `${plural(t.unconfirmed.length, 'row')} not judged` : '';
    lines.push(`${head}: ${[found, unjudged].filter(Boolean).join('; ')} (${seconds(t.elapsedMs)})`);
  }
  lines.push(...listKeys('missing on replica', t.missing));
  lines.push(...listKeys('extra on replica', t.extra));
  lines.push(...listKeys('different', t.different));
  const behind = t.unconfirmed.filter((u) => u.reason === 'replica behind');
  const moving = t.unconfirmed.filter((u) => u.reason === 'kept changing');
  if (behind.length > 0) {
    lines.push(`  not judged: the replica did not reach the primary's position within --wait (is \`replicator run\` running?):`);
    for (const kind of ['missing', 'extra', 'different'] as const) {
      const label = kind === 'different' ? 'different (so far)' : `${kind} on replica (so far)`;
      lines.push(
        ...listKeys(
          label,
          behind.filter((u) => u.kind === kind).map((u) => u.key),
        ),
      );
    }
  }
  if (moving.length > 0) {
    lines.push(
      '  not judged: these rows changed again on every look:',
      ...listKeys(
        'kept changing',
        moving.map((u) => u.key),
      ),
    );
  }
  if (t.collateC.length > 0) {
    lines.push(
      `  note: key columns ${t.collateC.join(', ')} have different collations on the two servers; compared with COLLATE "C"`,
    );
  }
  if (t.repair) {
    const r = t.repair;
    lines.push(
      `  repaired on the replica: ${count(r.inserted.length)} inserted, ${count(r.updated.length)} updated, ${count(r.deleted.length)} deleted${r.unchanged.length > 0 ? `, ${count(r.unchanged.length)} already equal` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export function formatSummary(report: VerifyReport): string {
  const by = (status: TableReport['status']) => report.tables.filter((t) => t.status === status).length;
  const rows = report.tables.reduce((sum, t) => sum + differenceCount(t), 0);
  const parts = [
    `${count(by('identical'))} identical`,
    by('different') > 0 ? `${count(by('different'))} with differences (${plural(rows, 'row')})` : '',
    by('unconfirmed') > 0 ? `${count(by('unconfirmed'))} not confirmed` : '',
    by('skipped') > 0 ? `${count(by('skipped'))} skipped` : '',
    by('error') > 0 ? `${count(by('error'))} not compared` : '',
  ].filter(Boolean);
  const repaired = report.tables.some((t) => t.repair) ? '; differences repaired, run verify again to check' : '';
  return `verify: ${plural(report.tables.length, 'table')}: ${parts.join(', ')} (${seconds(report.elapsedMs)})${repaired}\n`;
}

/** The report as JSON, keys embedded as the JSON objects the servers printed. */
export function formatJson(report: VerifyReport): string {
  const nonce = randomBytes(8).toString('hex');
  const raw: string[] = [];
  const key = (text: string) => {
    raw.push(text);
    return `${nonce}:${raw.length - 1}`;
  };
  const document = {
    identical: report.identical,
    elapsed_ms: report.elapsedMs,
    tables: report.tables.map((t) => ({
      table: t.table,
      status: t.status,
      rows: t.rows,
      ranges: t.ranges,
      leaves: t.leaves,
      candidates: t.candidates,
      rounds: t.rounds,
      collate_c: t.collateC,
      differences: { missing: t.missing.length, extra: t.extra.length, different: t.different.length },
      missing: t.missing.map(key),
      extra: t.extra.map(key),
      different: t.different.map(key),
      unconfirmed: t.unconfirmed.map((u) => ({ key: key(u.key), kind: u.kind, reason: u.reason })),
      repair: t.repair && {
        inserted: t.repair.inserted.map(key),
        updated: t.repair.updated.map(key),
        deleted: t.repair.deleted.map(key),
        unchanged: t.repair.unchanged.map(key),
      },
      message: t.message,
      elapsed_ms: t.elapsedMs,
    })),
  };
  const text = JSON.stringify(document, null, 2);
  return `${text.replace(new RegExp(`"${nonce}:(\\d+)"`, 'g'), (_, i: string) => raw[Number(i)] as string)}\n`;
}

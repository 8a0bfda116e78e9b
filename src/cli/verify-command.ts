/**
 * `replicator verify [tables…] [--json] [--repair] [--wait 30s] [--jobs 4]`:
 * compares primary and replica (see src/verify/). Exit 0 only when every
 * table is identical; 9 when a table differs, could not be confirmed or was
 * skipped; 4 when a table could not be compared (schema).
 */
import type { Command } from 'commander';
import type { Config } from '../config/parse-config.js';
import { parseDuration } from '../config/parse-duration.js';
import { Database } from '../db/database.js';
import { ERROR_CODES, ReplicatorError } from '../errors.js';
import { formatJson, formatSummary, formatTable } from '../verify/format-report.js';
import { Side } from '../verify/sides.js';
import { verify } from '../verify/verify.js';

type Options = Record<string, string | boolean | undefined>;

/** Exit code when the replica is not (shown to be) identical to the primary. */
export const VERIFY_DIFFERENCES_EXIT = 9;

function positiveInteger(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new ReplicatorError('CONFIG_INVALID', `${name}: "${text}" is not a whole number from 1 to ${max}`);
  }
  return n;
}

export function registerVerifyCommand(
  program: Command,
  withDbOptions: (cmd: Command) => Command,
  configFrom: (options: Options) => Config,
): void {
  withDbOptions(program.command('verify'))
    .description(
      'compare every replicated table on primary and replica (hashes of key ranges, narrowed down to rows); exit 0 only when identical',
    )
    .argument('[tables...]', 'tables to verify (default: the whole replication set)')
    .option('--json', 'print JSON')
    .option('--repair', 'rewrite the differing rows on the replica from the primary, and say what changed')
    .option('--wait <duration>', 'how long to wait for the replica to reach the primary position a difference was seen at', '30s')
    .option('--jobs <n>', 'ranges hashed at once on each server', '4')
    .addHelpText(
      'after',
      `
Runs while the primary is written and the replicator runs: a row is reported
only if it still differs once the replica has caught up with the primary
position it was seen at.

Exit codes: 0 identical · ${VERIFY_DIFFERENCES_EXIT} differences (also after --repair: run verify again), rows not confirmed, or a table skipped · 4 a table could not be compared

Examples:
  replicator verify
  replicator verify public.orders --json
  replicator verify --repair --wait 1m`,
    )
    .action(async (tables: string[], options: Options) => {
      const config = configFrom(options);
      const waitMs = parseDuration(String(options.wait));
      if (waitMs === undefined) {
        throw new ReplicatorError('CONFIG_INVALID', `--wait: "${options.wait}" is not a duration (e.g. 30s, 2m, 500ms)`);
      }
      const jobs = positiveInteger('--jobs', String(options.jobs), 64);
      const urls = { primary: config.primaryUrl, replica: config.replicaUrl };
      for (const [role, url] of Object.entries(urls)) {
        if (!url) {
          throw new ReplicatorError(
            'CONFIG_INVALID',
            `${role.toUpperCase()}_DATABASE_URL: is not set; set both database URLs (or --primary-url and --replica-url) to verify`,
          );
        }
      }
      const primary = new Side(new Database({ url: urls.primary as string, role: 'primary', max: jobs + 1, purpose: 'verify' }));
      const replica = new Side(new Database({ url: urls.replica as string, role: 'replica', max: jobs + 1, purpose: 'verify' }));
      try {
        const report = await verify(primary, replica, {
          tables,
          repair: options.repair === true,
          waitMs,
          ranges: { jobs },
          onTable: options.json ? undefined : (t) => process.stdout.write(formatTable(t)),
        });
        process.stdout.write(options.json ? formatJson(report) : formatSummary(report));
        const differs = report.tables.some((t) => t.status !== 'identical' && t.status !== 'error');
        const failed = report.tables.some((t) => t.status === 'error');
        process.exitCode = differs ? VERIFY_DIFFERENCES_EXIT : failed ? ERROR_CODES.SCHEMA_MISMATCH.exit : 0;
      } finally {
        await Promise.all([primary.db.end(), replica.db.end()]);
      }
    });
}

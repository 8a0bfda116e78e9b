/**
 * `npm run test:matrix`: the core and any-table test files on every supported
 * PostgreSQL major, primary and replica of the same major and of different
 * ones, one pair at a time (each pair runs the files one after another, as
 * `npm test` does). Prints one line per pair as it ends, then a summary table;
 * exits 1 when any pair failed.
 *
 *   MATRIX_PAIRS=14,16:18   pairs to run: `N` is primary N → replica N, `P:R` a mixed pair
 *   MATRIX_FILES=divergence,test/integration/positions.test.ts   other test files
 *   MATRIX_PAIR_TIMEOUT=1200   seconds one pair may take before it is stopped (default 20 min)
 *
 * Each pair's full test output is in test-output/matrix/<primary>-<replica>.log.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedMajors } from '../support/pg-versions.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REPORTER = fileURLToPath(new URL('./reporter.mjs', import.meta.url));
const OUTPUT = path.join(ROOT, 'test-output', 'matrix');

/**
 * The core (capture, apply, positions, crashes, install) and any-table files,
 * with the server restarts (which exercise pg-versions.ts's restart), the
 * initial copy, rejected changes and verify (row hashes compared across majors).
 */
const DEFAULT_FILES = [
  'demo-scenario',
  'any-table',
  'commit-order',
  'exact-values',
  'all-types',
  'divergence',
  'security',
  'positions',
  'install-uninstall',
  'crash-recovery',
  'database-restart',
  'initial-copy',
  'rejected-changes',
  'verify',
];

/** Every major on its own, then the oldest and the newest against each other both ways, and two in between. */
const DEFAULT_PAIRS = '14,15,16,17,18,14:18,18:14,15:17';

/** One line of reporter.mjs's output. */
interface MatrixRecord {
  outcome: 'pass' | 'fail';
  name: string;
  file: string;
  suite: boolean;
  /** node:test's failureType: testCodeFailure, hookFailed, subtestsFailed, cancelledByParent, testTimeoutFailure… */
  failureType?: string;
  message?: string;
}

interface Pair {
  primary: string;
  replica: string;
}

interface PairResult extends Pair {
  tests: number;
  failed: number;
  seconds: number;
  exitCode: number | null;
  timedOut: boolean;
  /** The first failure's cause: file › test: message. */
  firstFailure?: string;
}

function parsePairs(value: string): Pair[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [primary, replica = primary, extra] = s.split(':').map((v) => v.trim());
      if (!primary || !replica || extra !== undefined) throw new Error(`MATRIX_PAIRS: "${s}" is neither N nor P:R`);
      return { primary, replica };
    });
}

function testFile(name: string): string {
  const candidates = [name, path.join('test', 'integration', name), path.join('test', 'integration', `${name}.test.ts`)];
  const found = candidates.find((c) => existsSync(path.join(ROOT, c)) && c.endsWith('.ts'));
  if (!found) throw new Error(`MATRIX_FILES: no test file "${name}" (tried ${candidates.join(', ')})`);
  return found;
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** A pair's file name in test-output/matrix/. */
const pairName = (pair: Pair) => `${pair.primary}-${pair.replica}`.replaceAll('/', '_');

async function runPair(pair: Pair, files: string[], timeoutSeconds: number): Promise<PairResult> {
  const name = pairName(pair);
  const log = path.join(OUTPUT, `${name}.log`);
  const records = path.join(OUTPUT, `${name}.jsonl`);
  rmSync(log, { force: true });
  rmSync(records, { force: true });
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=1',
      '--test-reporter=spec',
      `--test-reporter-destination=${log}`,
      `--test-reporter=${REPORTER}`,
      `--test-reporter-destination=${records}`,
      ...files,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, PG_PRIMARY_VERSION: pair.primary, PG_REPLICA_VERSION: pair.replica },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true, // its own process group, so a pair past its time is stopped with all it started
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
      setTimeout(() => {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // already gone
        }
      }, 10_000).unref();
    } catch {
      // already gone
    }
  }, timeoutSeconds * 1000);
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  clearTimeout(timer);

  const lines = existsSync(records) ? readFileSync(records, 'utf8').split('\n').filter(Boolean) : [];
  const results = lines.map((l) => JSON.parse(l) as MatrixRecord);
  const tests = results.filter((r) => !r.suite);
  const failed = results.filter((r) => r.outcome === 'fail');
  // The cause, not its echoes: a suite whose subtests failed, or a test cancelled because its suite's hook failed.
  const cause = failed.find((r) => r.failureType !== 'subtestsFailed' && r.failureType !== 'cancelledByParent') ?? failed[0];
  let firstFailure = cause && `${path.basename(cause.file, '.test.ts')} › ${cause.name}: ${cause.message ?? cause.failureType}`;
  if (timedOut)
    firstFailure = `stopped after ${timeoutSeconds} s (MATRIX_PAIR_TIMEOUT)${firstFailure ? `; before that: ${firstFailure}` : ''}`;
  else if (!firstFailure && exitCode !== 0)
    firstFailure = `test runner exited ${exitCode}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
  return {
    ...pair,
    tests: tests.length,
    failed: tests.filter((r) => r.outcome === 'fail').length,
    seconds: (Date.now() - started) / 1000,
    exitCode,
    timedOut,
    firstFailure,
  };
}

/** The end of a failed pair's log, where a test still running when it was stopped shows (CI keeps no files). */
function logTail(pair: Pair, lines = 60): string {
  const log = path.join(OUTPUT, `${pairName(pair)}.log`);
  const text = existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';
  return `--- the last ${lines} lines of ${path.relative(ROOT, log)} ---\n${text}\n---`;
}

const passed = (r: PairResult) => r.exitCode === 0 && !r.timedOut && r.failed === 0 && r.tests > 0;

function table(results: PairResult[]): string {
  const header = ['primary', 'replica', 'result', 'tests', 'failed', 'duration', 'first failure'];
  const rows = results.map((r) => [
    r.primary,
    r.replica,
    passed(r) ? 'pass' : 'FAIL',
    String(r.tests),
    String(r.failed),
    formatDuration(r.seconds),
    passed(r) ? '' : (r.firstFailure ?? '').replaceAll('\n', ' ').slice(0, 400),
  ]);
  // Every column padded but the last, which holds the failure's text.
  const widths = header.map((h, i) =>
    Math.max(3, h.length, ...rows.map((row) => (i === header.length - 1 ? 0 : (row[i] ?? '').length))),
  );
  const line = (row: string[]) =>
    `| ${row.map((cell, i) => cell.padEnd(i === header.length - 1 ? 0 : (widths[i] ?? 0))).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const pairs = parsePairs(process.env.MATRIX_PAIRS || DEFAULT_PAIRS);
  const files = (process.env.MATRIX_FILES ? process.env.MATRIX_FILES.split(',') : DEFAULT_FILES)
    .map((f) => f.trim())
    .filter(Boolean)
    .map(testFile);
  const timeoutSeconds = Number(process.env.MATRIX_PAIR_TIMEOUT || 1200);
  if (!(timeoutSeconds > 0)) throw new Error('MATRIX_PAIR_TIMEOUT: a number of seconds above 0');
  const majors = installedMajors().map(String);
  for (const version of pairs.flatMap((p) => [p.primary, p.replica]))
    if (!version.includes('/') && !majors.includes(version))
      throw new Error(`MATRIX_PAIRS: no binaries for PostgreSQL ${version}; installed: ${majors.join(', ')}`);
  mkdirSync(OUTPUT, { recursive: true });
  console.log(
    `PostgreSQL version matrix: ${files.length} test files on ${pairs.length} primary → replica pairs, one pair at a time; logs in ${path.relative(ROOT, OUTPUT)}/`,
  );
  const started = Date.now();
  const results: PairResult[] = [];
  for (const [i, pair] of pairs.entries()) {
    const result = await runPair(pair, files, timeoutSeconds);
    results.push(result);
    console.log(
      `[${i + 1}/${pairs.length}] primary ${pair.primary} → replica ${pair.replica}: ${passed(result) ? 'pass' : 'FAIL'}, ${result.tests - result.failed}/${result.tests} tests passed in ${formatDuration(result.seconds)}${passed(result) ? '' : ` — ${result.firstFailure}`}`,
    );
    if (!passed(result)) console.log(logTail(result));
  }
  console.log(
    `\n${table(results)}\n\n${results.filter(passed).length}/${results.length} pairs passed in ${formatDuration((Date.now() - started) / 1000)}`,
  );
  return results.every(passed) ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 2;
  },
);

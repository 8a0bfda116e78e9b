/**
 * The raw figures of one run and where they were taken: written as JSON under
 * bench/results/ so later runs can be compared with this one.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MethodName, PerMethod } from './methods.js';
import { REPO_ROOT } from './paths.js';
import type { ReplicatorBuild } from './replicator-process.js';
import type { Sizes } from './sizes.js';
import type { Checked } from './workload.js';
import type { BulkFigures } from './workloads/bulk.js';
import type { CaptureFigures } from './workloads/capture-cost.js';
import type { ClosedLoopFigures } from './workloads/closed-loop.js';
import type { LagFigures, SeedFigures } from './workloads/lag.js';
import type { MemoryFigures } from './workloads/memory.js';
import type { MemoryRowFigures, RowValueKind } from './workloads/memory-row.js';
import type { PgbenchResults } from './workloads/pgbench.js';

export interface Workloads {
  bulk: PerMethod<BulkFigures & Checked>;
  oltp: PerMethod<ClosedLoopFigures & Checked>;
  update: PerMethod<ClosedLoopFigures & Checked>;
  delete: PerMethod<ClosedLoopFigures & Checked>;
  lag: PerMethod<LagFigures & Checked>;
  capture: CaptureFigures;
  memory: PerMethod<MemoryFigures & Checked>;
  /** Run with memory: one large row, per kind of value (text carried inline, bytea streamed). */
  memoryRow: Partial<Record<RowValueKind, PerMethod<MemoryRowFigures & Checked>>>;
  seed: SeedFigures;
  pgbench: PgbenchResults | { skipped: string };
}

export interface Environment {
  date: string;
  commit: string;
  /** Uncommitted changes under src/, db/ or bin/ were measured too. */
  dirty: boolean;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; os: string };
  node: string;
  postgres: string;
  /** 1-minute load average when the run started: above the CPU count, other work competed for the machine. */
  loadAverageAtStart: number;
}

export interface BenchResults extends Environment {
  quick: boolean;
  /** The methods compared, in column order, the yardstick first. */
  methods: MethodName[];
  /** The method the others' ratios are taken against, when it ran. */
  yardstick?: MethodName;
  methodDescriptions: PerMethod<string>;
  /** Each method's effective settings (native: the subscription's; ours: the environment given to `replicator run`). */
  methodSettings: PerMethod<Record<string, string | boolean>>;
  /** How the replicator's processes were run. */
  replicator: ReplicatorBuild;
  servers: { primary: Record<string, string>; replica: Record<string, string>; dataFileSystem: string };
  sizes: Sizes;
  workloads: Partial<Workloads>;
  totalSeconds: number;
  loadAverageAtEnd: number;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export const loadAverage = (): number => Math.round((os.loadavg()[0] ?? 0) * 100) / 100;

export function describeEnvironment(postgres: string): Environment {
  return {
    date: new Date().toISOString(),
    commit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--', 'src', 'db', 'bin']) !== '',
    machine: {
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      os: `${os.type()} ${os.release()}`,
    },
    node: process.version,
    postgres,
    loadAverageAtStart: loadAverage(),
  };
}

/** bench/results/<date>-<shortcommit>.json; returns its path. */
export function writeResults(results: BenchResults): string {
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${results.date.slice(0, 10)}-${results.commit}${results.quick ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

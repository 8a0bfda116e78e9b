/**
 * The raw figures of one run and where they were taken: written as JSON under
 * bench/results/ so later runs can be compared with this one.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeSettings } from './native-replication.js';
import type { Sizes } from './sizes.js';
import type { Checked, PerMethod } from './workload.js';
import type { BulkFigures } from './workloads/bulk.js';
import type { CaptureFigures } from './workloads/capture-cost.js';
import type { ClosedLoopFigures } from './workloads/closed-loop.js';
import type { LagFigures } from './workloads/lag.js';
import type { MemoryFigures } from './workloads/memory.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Workloads {
  bulk: PerMethod<BulkFigures & Checked>;
  oltp: PerMethod<ClosedLoopFigures & Checked>;
  update: PerMethod<ClosedLoopFigures & Checked>;
  delete: PerMethod<ClosedLoopFigures & Checked>;
  lag: PerMethod<LagFigures & Checked>;
  capture: CaptureFigures;
  memory: MemoryFigures;
  seed: LagFigures & Checked & { pollInterval: string };
}

export interface Environment {
  date: string;
  commit: string;
  /** Uncommitted changes under src/ or db/ were measured too. */
  dirty: boolean;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; os: string };
  node: string;
  postgres: string;
  /** 1-minute load average when the run started: above the CPU count, other work competed for the machine. */
  loadAverageAtStart: number;
}

export interface BenchResults extends Environment {
  quick: boolean;
  /** Where pg-replicator ran: in the benchmark's process (startService) or as its own process. */
  oursProcess: 'in-process' | 'separate';
  sizes: Sizes;
  nativeSubscription?: NativeSettings;
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
    loadAverageAtStart: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** bench/results/<date>-<shortcommit>.json; returns its path. */
export function writeResults(results: BenchResults): string {
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const variant = `${results.quick ? '-quick' : ''}${results.oursProcess === 'separate' ? '-separate-process' : ''}`;
  const file = path.join(dir, `${results.date.slice(0, 10)}-${results.commit}${variant}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

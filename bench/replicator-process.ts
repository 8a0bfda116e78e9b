/**
 * The replicator as a user runs it: the installed `replicator` command, i.e.
 * `node <package.json's bin>`, always in its own process. Every replicator
 * process the benchmark makes (install, add, run) goes through
 * spawnReplicator, so what the command runs (TypeScript through tsx today,
 * compiled JavaScript in dist/ once bin/ points there) is decided in one place.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BenchFailure, now, sleep, waitUntil } from './measure.js';
import { REPO_ROOT } from './paths.js';

const packageJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  bin?: string | Record<string, string>;
  scripts?: Record<string, string>;
};
const binPath = typeof packageJson.bin === 'string' ? packageJson.bin : packageJson.bin?.replicator;

/** What `npx replicator` / an installed `replicator` runs. */
export const REPLICATOR_ENTRY = path.join(REPO_ROOT, binPath ?? 'bin/replicator.js');

/** Whether the command runs compiled code from dist/, which must be built from the checked-out sources first. */
function runsCompiledCode(): boolean {
  if (path.relative(REPO_ROOT, REPLICATOR_ENTRY).startsWith('dist')) return true;
  try {
    return /['"/]dist\//.test(readFileSync(REPLICATOR_ENTRY, 'utf8'));
  } catch {
    return false;
  }
}

export interface ReplicatorBuild {
  /** The command line, relative to the repository. */
  command: string;
  /** compiled: runs dist/ (built at the start of this run); tsx: compiles the TypeScript sources as it starts. */
  runs: 'compiled' | 'tsx';
  buildSeconds?: number;
}

/**
 * At the start of a run: when the command runs compiled code, builds it
 * (`npm run build`) so the figures are those of the checked-out sources, never
 * of a stale dist/.
 */
export async function prepareReplicator(progress: (line: string) => void): Promise<ReplicatorBuild> {
  const command = `node ${path.relative(REPO_ROOT, REPLICATOR_ENTRY)}`;
  if (!runsCompiledCode()) return { command, runs: 'tsx' };
  if (!packageJson.scripts?.build) throw new BenchFailure(`${command} runs dist/, but package.json has no build script`);
  progress('building the replicator (npm run build)...');
  const started = now();
  const npm = process.env.npm_execpath;
  await new Promise<void>((resolve, reject) => {
    const [file, args] = npm ? [process.execPath, [npm, 'run', 'build']] : ['npm', ['run', 'build']];
    execFile(file, args, { cwd: REPO_ROOT, timeout: 300_000, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) =>
      error ? reject(new BenchFailure(`npm run build failed (${error.message.split('\n')[0]}):\n${stdout}${stderr}`)) : resolve(),
    );
  });
  return { command, runs: 'compiled', buildSeconds: Math.round((now() - started) / 100) / 10 };
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Node flags before the entry, e.g. --cpu-prof. */
  nodeFlags?: readonly string[];
}

/** Every replicator process started and not yet exited: a run that fails or times out must leave none behind. */
const live = new Set<ChildProcess>();

/** The one place a replicator process is started. */
export function spawnReplicator(args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), REPLICATOR_ENTRY, ...args], {
    cwd: REPO_ROOT,
    // Settings the benchmark passes win over a .env in the checkout (dotenv never overrides the environment).
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** At the benchmark's end: SIGKILLs whatever replicator process is still running (only after a failure). */
export function killLeftoverReplicators(): number {
  const left = [...live];
  for (const child of left) child.kill('SIGKILL');
  return left.length;
}

/** Keeps the last 64 kB a process wrote, for error messages. */
function collectOutput(child: ChildProcess): () => string {
  let output = '';
  const add = (chunk: Buffer | string) => {
    output = (output + chunk.toString()).slice(-65_536);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  // A process that could not be started: say so in its output rather than crash on an unhandled 'error' event.
  child.on('error', (error) => add(`\n(could not run: ${error.message})`));
  return () => output.trim();
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    }
  });
}

/** Runs a one-shot command (install-primary, add, ...) to its end; fails with its output unless it exits 0. */
export async function runReplicatorCommand(
  args: readonly string[],
  timeoutMs: number,
  options: SpawnOptions = {},
): Promise<string> {
  const child = spawnReplicator(args, options);
  const output = collectOutput(child);
  const what = `replicator ${args.map((a) => (a.includes('://') ? '<url>' : a)).join(' ')}`;
  const done = await Promise.race([exited(child).then(() => true), sleep(timeoutMs).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited(child);
    throw new BenchFailure(`${what}: did not finish within ${Math.round(timeoutMs / 1000)} s; output: ${output() || '(none)'}`);
  }
  if (child.exitCode !== 0) {
    throw new BenchFailure(`${what}: exited with ${child.exitCode ?? child.signalCode}; output: ${output() || '(none)'}`);
  }
  return output();
}

export interface ReplicatorProcess {
  pid: number;
  port: number;
  /** Current and peak resident set (VmRSS, VmHWM), in MB (10^6 bytes, the unit of the target). */
  memory(): { rssMB: number; peakMB: number };
  /** The last of what it wrote, for error messages. */
  output(): string;
  /** Its /status, or undefined when it does not answer. */
  status(): Promise<Record<string, unknown> | undefined>;
  /** SIGTERM, as Ctrl+C or a service manager would; SIGKILL if it has not exited within 10 s. */
  stop(): Promise<void>;
}

function readMemory(pid: number): { rssMB: number; peakMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  // /proc reports kB meaning KiB.
  const mb = (field: string) => (Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024) / 1e6;
  return { rssMB: mb('VmRSS'), peakMB: mb('VmHWM') };
}

async function freeHttpPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * `replicator run` against the two URLs, with its defaults but a free HTTP
 * port and warnings-only logging; resolves once its /status says `running`
 * (its first batch is done).
 */
export async function startReplicatorRun(
  urls: { primaryUrl: string; replicaUrl: string },
  timeoutMs: number,
  options: SpawnOptions = {},
): Promise<ReplicatorProcess> {
  const port = await freeHttpPort();
  const child = spawnReplicator(['run'], {
    ...options,
    env: {
      PRIMARY_DATABASE_URL: urls.primaryUrl,
      REPLICA_DATABASE_URL: urls.replicaUrl,
      HTTP_PORT: String(port),
      LOG_LEVEL: 'warn',
      ...options.env,
    },
  });
  const output = collectOutput(child);
  const pid = child.pid;
  if (pid === undefined) throw new BenchFailure('replicator run: the process did not start');
  const status = () =>
    fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(5000) })
      .then((r) => r.json() as Promise<Record<string, unknown>>)
      .catch(() => undefined);
  const handle: ReplicatorProcess = {
    pid,
    port,
    memory: () => readMemory(pid),
    output,
    status,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited(child).then(() => true), sleep(10_000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited(child);
      }
    },
  };
  try {
    await waitUntil(
      'replicator run: /status state "running" (first batch done)',
      async () => {
        if (child.exitCode !== null) throw new BenchFailure(`replicator run exited with ${child.exitCode}: ${output()}`);
        const s = await status();
        if (s?.state === 'failing') throw new BenchFailure(`replicator run is failing at start: ${String(s.last_error)}`);
        return s?.state === 'running';
      },
      timeoutMs,
      20,
    );
  } catch (error) {
    await handle.stop();
    throw error;
  }
  return handle;
}

/**
 * pg-replicator as its own process, the way it is deployed (`node
 * bin/replicator.js run`), so its memory can be read from /proc without the
 * benchmark's own heap in the figure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/embedded/embedded-server.js';
import { BenchFailure, sleep, waitUntil } from './measure.js';

const ENTRY = fileURLToPath(new URL('../bin/replicator.js', import.meta.url));

export interface ReplicatorChild {
  pid: number;
  /** Current and peak resident set (VmRSS, VmHWM), in MB (10^6 bytes, the unit of the target). */
  memory(): { rssMB: number; peakMB: number };
  /** Everything it wrote, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

function readMemory(pid: number): { rssMB: number; peakMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  // /proc reports kB meaning KiB.
  const mb = (field: string) => (Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024) / 1e6;
  return { rssMB: mb('VmRSS'), peakMB: mb('VmHWM') };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

export interface ChildOptions {
  /** e.g. --cpu-prof */
  nodeFlags?: readonly string[];
  /** Extra environment, e.g. USE_LISTEN / POLL_INTERVAL. */
  env?: Record<string, string>;
}

export async function startReplicatorChild(
  urls: { primaryUrl: string; replicaUrl: string },
  timeoutMs: number,
  options: ChildOptions = {},
): Promise<ReplicatorChild> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), ENTRY, 'run'], {
    env: {
      ...process.env,
      PRIMARY_DATABASE_URL: urls.primaryUrl,
      REPLICA_DATABASE_URL: urls.replicaUrl,
      HTTP_PORT: String(port),
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const pid = child.pid;
  if (pid === undefined) throw new BenchFailure('replicator child: did not start');
  const handle: ReplicatorChild = {
    pid,
    memory: () => readMemory(pid),
    output: () => output,
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
      'replicator child: running',
      async () => {
        if (child.exitCode !== null) throw new BenchFailure(`replicator child exited with ${child.exitCode}: ${output.trim()}`);
        const status = await fetch(`http://127.0.0.1:${port}/status`)
          .then((r) => r.json() as Promise<{ state?: string }>)
          .catch(() => undefined);
        return status?.state === 'running';
      },
      timeoutMs,
    );
  } catch (error) {
    await handle.stop();
    throw error;
  }
  return handle;
}

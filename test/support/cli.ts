/**
 * Runs the real `replicator` command as a child process, as a user would: its
 * TypeScript entry (src/cli/bin.ts) through tsx, so tests always run the
 * sources as they are, never a stale build. The built package (dist/, bin/) is
 * tested by test/package/.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/embedded/embedded-server.js';
import { captureEnv, streaming, TEST_LOGICAL } from './capture-mode.js';
import { waitFor } from './servers.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
/** node arguments that start the command from its sources. */
export const CLI_FROM_SOURCE = ['--import', import.meta.resolve('tsx'), ENTRY];

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment for a child: nothing inherited that could point it at another database. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const { PATH, HOME, TMPDIR } = process.env;
  return { PATH, HOME, TMPDIR, ...captureEnv(), ...env };
}

/** How to start the command: by default its sources through tsx; test/package/ passes the installed one. */
export type CliCommand = readonly [file: string, ...args: string[]];
const FROM_SOURCE: CliCommand = [process.execPath, ...CLI_FROM_SOURCE];

export function runCli(args: string[], env: Record<string, string>, command: CliCommand = FROM_SOURCE): Promise<CliResult> {
  return new Promise((resolve) => {
    const [file, ...before] = command;
    const child = spawn(file, [...before, ...args], {
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface RunningReplicator {
  child: ChildProcess;
  apiUrl: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  status: () => Promise<Record<string, unknown>>;
  stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startReplicator(
  env: Record<string, string>,
  command: CliCommand = FROM_SOURCE,
  /** How long the API may take to answer (the embedded default runs initdb twice first). */
  startTimeoutMs = 15_000,
): Promise<RunningReplicator> {
  const port = await freePort();
  const [file, ...before] = command;
  const child = spawn(file, [...before, 'run'], {
    env: childEnv({ HTTP_PORT: String(port), LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const apiUrl = `http://127.0.0.1:${port}`;
  const status = async () => (await (await fetch(`${apiUrl}/status`)).json()) as Record<string, unknown>;
  await waitFor(
    `replicator API on ${apiUrl} (output so far: ${output})`,
    async () => {
      if (hasExited) throw new Error(`replicator exited early: ${output}`);
      return (await fetch(`${apiUrl}/status`)).ok;
    },
    startTimeoutMs,
  );
  if (TEST_LOGICAL && !env.CAPTURE_MODE) await streaming(async () => (await status()).state as string);
  const running: RunningReplicator = {
    child,
    apiUrl,
    output: () => output,
    exited,
    status,
    // SIGTERM, bounded: the replicator gives up on its batch after 30 s (exit 12); one still there later is killed, and that is a failure.
    stop: async () => {
      if (!hasExited) child.kill('SIGTERM');
      return exitedWithin(running, 45_000);
    },
  };
  return running;
}

/** The child's exit, or a failure naming what it printed if it has not exited within `ms`. */
export async function exitedWithin(
  replicator: RunningReplicator,
  ms = 30_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      replicator.child.kill('SIGKILL');
      reject(new Error(`the replicator did not exit within ${ms} ms; its output:\n${replicator.output()}`));
    }, ms);
  });
  try {
    return await Promise.race([replicator.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

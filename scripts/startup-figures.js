// Start-up time and idle memory of the replicator, compiled (bin/replicator.js,
// dist/) against the same program run through tsx (src/cli/bin.ts): the figures
// of BENCHMARKS.md "Start-up and memory". Needs `npm run build` first.
//
//   node scripts/startup-figures.js [rounds]        starts two servers, runs both
//                                                   programs in turn, prints medians
//   node scripts/startup-figures.js servers         starts two servers, prints their
//                                                   URLs, runs until Ctrl+C
//   node scripts/startup-figures.js once compiled|tsx   one run against the servers
//                                                   in PRIMARY_/REPLICA_DATABASE_URL
//                                                   (for timing the whole command
//                                                   from outside); prints one JSON line
//
// One run: the program starts with both URLs set; api_ms is the time from
// spawning it to GET /health answering at all (the process is up), startup_ms
// to it answering 200 {"status":"ok"} (both databases checked, replication
// running); idle RSS is the process's resident
// memory (VmRSS) IDLE_SECONDS (default 10) later, with nothing to replicate.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const PROGRAMS = {
  compiled: [path.join(root, 'bin/replicator.js')],
  tsx: ['--import', import.meta.resolve('tsx'), path.join(root, 'src/cli/bin.ts')],
};
const IDLE_MS = Number(process.env.IDLE_SECONDS ?? 10) * 1000;

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const rssMb = (pid) => {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
};

async function once(program, urls) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...PROGRAMS[program], 'run'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...urls, HTTP_PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let startupMs;
  let apiMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${program} exited with ${child.exitCode}`);
    if (performance.now() - started > 60_000) throw new Error(`${program}: no healthy /health within 60 s`);
    const status = await fetch(`http://127.0.0.1:${port}/health`).then(
      (r) => r.status,
      () => 0,
    );
    if (status !== 0) apiMs ??= Math.round(performance.now() - started);
    if (status === 200) {
      startupMs = Math.round(performance.now() - started);
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const idleRssMb = rssMb(child.pid);
  child.kill('SIGTERM');
  await exited;
  return { program, node: process.version, api_ms: apiMs, startup_ms: startupMs, idle_rss_mb: idleRssMb };
}

async function startServers() {
  const { startEmbeddedServer } = await import('../dist/embedded/embedded-server.js');
  const { installPrimary } = await import('../dist/capture/install-primary.js');
  const { installReplica } = await import('../dist/apply/install-replica.js');
  const { default: pg } = await import('pg');
  const dir = mkdtempSync(path.join(tmpdir(), 'pg-replicator-startup-'));
  chmodSync(dir, 0o755); // the servers run as user postgres when we are root
  const servers = await Promise.all(['primary', 'replica'].map((name) => startEmbeddedServer({ dataDir: path.join(dir, name) })));
  const urls = { PRIMARY_DATABASE_URL: servers[0].url(), REPLICA_DATABASE_URL: servers[1].url() };
  for (const [url, install] of [
    [urls.PRIMARY_DATABASE_URL, installPrimary],
    [urls.REPLICA_DATABASE_URL, installReplica],
  ]) {
    const client = new pg.Client(url);
    await client.connect();
    await install(client);
    await client.end();
  }
  return {
    urls,
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const [mode = '5', arg] = process.argv.slice(2);
if (mode === 'once') {
  if (!(arg in PROGRAMS)) throw new Error('usage: startup-figures.js once compiled|tsx');
  const { PRIMARY_DATABASE_URL, REPLICA_DATABASE_URL } = process.env;
  console.log(JSON.stringify(await once(arg, { PRIMARY_DATABASE_URL, REPLICA_DATABASE_URL })));
} else if (mode === 'servers') {
  const servers = await startServers();
  for (const [name, url] of Object.entries(servers.urls)) console.log(`export ${name}='${url}'`);
  await new Promise((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
  await servers.stop();
} else {
  const rounds = Number(mode);
  const servers = await startServers();
  const runs = [];
  try {
    for (let i = 0; i < rounds; i++) {
      for (const program of i % 2 ? ['tsx', 'compiled'] : ['compiled', 'tsx']) {
        const result = await once(program, servers.urls);
        console.log(JSON.stringify(result));
        runs.push(result);
      }
    }
  } finally {
    await servers.stop();
  }
  for (const program of Object.keys(PROGRAMS)) {
    const mine = runs.filter((r) => r.program === program);
    console.log(
      `${program}: API answering after ${median(mine.map((r) => r.api_ms))} ms, /health ok after ${median(mine.map((r) => r.startup_ms))} ms, idle RSS ${median(mine.map((r) => r.idle_rss_mb))} MB (medians of ${mine.length}, ${process.version})`,
    );
  }
}

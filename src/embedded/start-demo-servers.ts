/**
 * The zero-configuration default of `replicator run`: two embedded servers
 * (primary and replica) under DATA_DIR, both schemas installed, and the exact
 * commands to try the demo printed for the user.
 */
import path from 'node:path';
import pg from 'pg';
import { DEMO_EMAIL_DOMAIN } from './demo-writer.js';
import { type EmbeddedServer, startEmbeddedServer } from './embedded-server.js';
import { installDemo } from './install-demo.js';

export interface DemoServers {
  primaryUrl: string;
  replicaUrl: string;
  stop(): Promise<void>;
}

async function install(url: string, run: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await run(client);
  } finally {
    await client.end();
  }
}

export async function startDemoServers(dataDir: string): Promise<DemoServers> {
  const servers: EmbeddedServer[] = [];
  try {
    servers.push(await startEmbeddedServer({ dataDir: path.join(dataDir, 'primary'), port: 54320 }));
    servers.push(await startEmbeddedServer({ dataDir: path.join(dataDir, 'replica'), port: 54321 }));
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    throw error;
  }
  const [primary, replica] = servers as [EmbeddedServer, EmbeddedServer];
  // The demo servers have no TLS: said in the URL, so a PGSSLMODE in the environment cannot change it.
  const primaryUrl = `${primary.url()}?sslmode=disable`;
  const replicaUrl = `${replica.url()}?sslmode=disable`;
  await install(primaryUrl, (c) => installDemo(c, 'primary'));
  await install(replicaUrl, (c) => installDemo(c, 'replica'));
  return {
    primaryUrl,
    replicaUrl,
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

export function demoInstructions(servers: DemoServers, apiUrl: string, dataDir: string, demoWriter = false): string {
  const p = `psql '${servers.primaryUrl}'`;
  const r = `psql '${servers.replicaUrl}'`;
  return [
    '',
    `This is the embedded DEMO: two local PostgreSQL servers (data in ${dataDir}/) with the demo schema installed,`,
    'because no database is configured.',
    'Try the demo in another terminal:',
    '',
    `  ${p} -c "INSERT INTO users (name, email) VALUES ('Alice Johnson', 'alice@example.com'), ('Bob Smith', 'bob@example.com'), ('Charlie Brown', 'charlie@example.com');"`,
    `  ${p} -c "SELECT * FROM user_changes ORDER BY change_id;"`,
    `  ${r} -c "SELECT * FROM users ORDER BY user_id;"`,
    `  curl ${apiUrl}/status`,
    `  ${p} -c "UPDATE users SET email = 'alice.j@example.com' WHERE name = 'Alice Johnson';"`,
    `  ${p} -c "DELETE FROM users WHERE name = 'Charlie Brown';"`,
    `  ${r} -c "SELECT * FROM users ORDER BY user_id;"`,
    `  curl ${apiUrl}/health`,
    '',
    `Dashboard: ${apiUrl}/   Prometheus metrics: ${apiUrl}/metrics   OpenAPI: ${apiUrl}/openapi.json`,
    ...(demoWriter
      ? [
          `A demo writer changes a few users (emails @${DEMO_EMAIL_DOMAIN}) every 1-3 s so the dashboard moves;`,
          'set DEMO_WRITER=false to turn it off and see only your own changes.',
        ]
      : []),
    '',
    'Press Ctrl+C to stop. To replicate your own databases instead: set PRIMARY_DATABASE_URL and',
    'REPLICA_DATABASE_URL (postgresql://user:password@host:5432/dbname), run `replicator install-primary` and',
    '`replicator install-replica` once, then `replicator run` (see the README, Configuration).',
    '',
  ].join('\n');
}

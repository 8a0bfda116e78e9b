/**
 * `replicator init [primary|replica]` and `replicator uninstall
 * [primary|replica]`: the replicator's own objects on each side, installed by
 * the migrations a database lacks (each once, in one transaction, under a
 * lock) and removed without a trace. Neither touches the database's own
 * tables; `init --demo` also creates the Go demo's users table.
 * `install-primary` and `install-replica` are the old names of `init`.
 */
import type { Command } from 'commander';
import { initReplica } from '../apply/init-replica.js';
import { uninstallReplica } from '../apply/uninstall-replica.js';
import { initPrimary } from '../capture/init-primary.js';
import { useLogicalCapture, useTriggerCapture } from '../capture/logical-capture.js';
import { uninstallPrimary } from '../capture/uninstall-primary.js';
import type { Config } from '../config/parse-config.js';
import type { DatabaseRole } from '../db/connect.js';
import { Database } from '../db/database.js';
import { ddlTransaction } from '../db/ddl-transaction.js';
import { installDemo } from '../embedded/install-demo.js';
import { ReplicatorError } from '../errors.js';
import { dropSlot } from '../source/logical/slot.js';

type Options = Record<string, string | boolean | undefined>;

const URL_NAMES = { primary: 'PRIMARY_DATABASE_URL', replica: 'REPLICA_DATABASE_URL' } as const;

function sides(which: string | undefined): DatabaseRole[] {
  if (which === undefined || which === 'both') return ['primary', 'replica'];
  if (which === 'primary' || which === 'replica') return [which];
  throw new ReplicatorError('CONFIG_INVALID', `"${which}" is not a side; use primary, replica, or nothing for both`);
}

async function onSide<T>(config: Config, side: DatabaseRole, purpose: string, run: (db: Database) => Promise<T>): Promise<T> {
  const url = side === 'primary' ? config.primaryUrl : config.replicaUrl;
  if (!url) {
    throw new ReplicatorError(
      'CONFIG_INVALID',
      `${URL_NAMES[side]}: is not set; set it (or pass --${side}-url) to say which database to use`,
    );
  }
  const db = new Database({ url, role: side, max: 1, purpose });
  try {
    return await run(db);
  } finally {
    await db.end();
  }
}

export async function init(config: Config, which: DatabaseRole[], demo: boolean): Promise<void> {
  for (const side of which) {
    await onSide(config, side, 'init', (db) =>
      db.session(async (client) => {
        const applied = side === 'primary' ? await initPrimary(client) : await initReplica(client);
        if (demo) await installDemo(client, side);
        // Logical mode: the owner creates the publication of the replication set (the replicator's login may not).
        if (side === 'primary' && config.captureMode !== 'trigger') {
          await useLogicalCapture(client);
          process.stdout.write(
            `primary: logical capture (CAPTURE_MODE=${config.captureMode}): publication pg_replicator holds the replication set; capture triggers disabled\n`,
          );
        } else if (side === 'primary' && config.captureModeExplicit && (await useTriggerCapture(client))) {
          process.stdout.write('primary: trigger capture: publication pg_replicator dropped; capture triggers enabled again\n');
        }
        const what =
          applied.length === 0 ? 'already up to date' : `applied ${applied.map((m) => `${m.version} ${m.name}`).join(', ')}`;
        process.stdout.write(`${side}: pg-replicator's objects installed (${what})${demo ? '; demo table users ready' : ''}\n`);
      }),
    );
  }
}

export function registerInstallCommands(
  program: Command,
  withDbOptions: (cmd: Command) => Command,
  configFrom: (options: Options) => Config,
): void {
  withDbOptions(program.command('init'))
    .description("install (or upgrade) the replicator's own objects in schema replicator; touches none of your tables")
    .argument('[side]', 'primary, replica, or both (default)')
    .option('--demo', "also create the Go demo's users table (and its capture) on both sides")
    .addHelpText(
      'after',
      '\nExamples:\n  replicator init --primary-url postgresql://owner@db1/app --replica-url postgresql://owner@db2/app\n  replicator init primary\n  replicator init --demo',
    )
    .action(async (which: string | undefined, options: Options) => {
      await init(configFrom(options), sides(which), options.demo === true);
    });

  for (const side of ['primary', 'replica'] as const) {
    withDbOptions(program.command(`install-${side}`))
      .description(`the old name of \`replicator init ${side}\``)
      .option('--demo', "also create the Go demo's users table")
      .addHelpText('after', `\nExample:\n  replicator install-${side} --${side}-url postgresql://owner@localhost:5432/app`)
      .action(async (options: Options) => {
        await init(configFrom(options), [side], options.demo === true);
      });
  }

  withDbOptions(program.command('uninstall'))
    .description(
      'remove everything the replicator created (capture, change logs, its schema, its grants); your tables and rows stay',
    )
    .argument('[side]', 'primary, replica, or both (default)')
    .addHelpText(
      'after',
      '\nExamples:\n  replicator uninstall\n  replicator uninstall primary --primary-url postgresql://owner@db1/app',
    )
    .action(async (which: string | undefined, options: Options) => {
      const config = configFrom(options);
      for (const side of sides(which)) {
        const removed = await onSide(config, side, 'uninstall', (db) =>
          db.session((client) =>
            ddlTransaction(client, () => (side === 'primary' ? uninstallPrimary(client) : uninstallReplica(client))),
          ),
        );
        if (side === 'primary') {
          // Not in the transaction above: a slot is not transactional. An active one (a replicator still running) stays.
          const dropped = await onSide(config, side, 'uninstall', (db) => dropSlot(db, config.replicationSlot)).catch(
            (error: Error) => {
              process.stderr.write(`primary: replication slot ${config.replicationSlot} not dropped: ${error.message}\n`);
              return false;
            },
          );
          if (dropped) removed.push(`replication slot ${config.replicationSlot} (logical mode)`);
        }
        if (removed.length === 0) process.stdout.write(`${side}: nothing of pg-replicator's was installed\n`);
        for (const line of removed) process.stdout.write(`${side}: removed ${line}\n`);
      }
    });
}

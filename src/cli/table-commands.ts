/**
 * `replicator add | remove | list | resync`: the replication set. Adding a
 * table checks (or creates) its table on the replica, then installs its
 * capture on the primary; the running replicator notices at its next batch
 * and copies the table's rows. All of it with the owner's URLs.
 */
import type { Command } from 'commander';
import { addTable, listTables, removeTable, resolveTable, resyncTable } from '../capture/replication-set.js';
import type { Config } from '../config/parse-config.js';
import { Database } from '../db/database.js';
import { displayName, type QualifiedName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import { claimPrimary, readIdentity } from '../source/source-identity.js';
import type { RegistryEntry } from '../tables/registry.js';
import { syncSequences } from '../tables/sync-sequences.js';
import { followCopy } from './follow-copy.js';

type Options = Record<string, string | boolean | undefined>;

interface Both {
  primary: Database;
  replica: Database;
}

/** Both databases, for one command (`purpose` shows in application_name); closed after. */
export async function withBoth<T>(config: Config, purpose: string, run: (dbs: Both) => Promise<T>): Promise<T> {
  for (const [name, url] of [
    ['PRIMARY_DATABASE_URL', config.primaryUrl],
    ['REPLICA_DATABASE_URL', config.replicaUrl],
  ] as const) {
    if (!url)
      throw new ReplicatorError('CONFIG_INVALID', `${name}: is not set; set both database URLs to change the replication set`);
  }
  const primary = new Database({ url: config.primaryUrl as string, role: 'primary', max: 1, purpose });
  const replica = new Database({ url: config.replicaUrl as string, role: 'replica', max: 1, purpose });
  try {
    return await run({ primary, replica });
  } finally {
    await Promise.all([primary.end(), replica.end()]);
  }
}

function describeEntry(entry: RegistryEntry): string {
  const key = entry.declaredKey ? ` key (${entry.keyColumns.join(', ')})` : '';
  return `${displayName(entry.table)} → change log ${displayName(entry.log)}${key}`;
}

export function registerTableCommands(
  program: Command,
  withDbOptions: (cmd: Command) => Command,
  configFrom: (options: Options) => Config,
): void {
  withDbOptions(program.command('add'))
    .description('add tables to the replication set (checks or creates the replica table, installs capture; idempotent)')
    .argument('<tables...>', 'schema.table (quote names with capitals or spaces: \'"My Schema"."My Table"\')')
    .option('--key <columns>', 'for a table without a primary key: a unique, not-null column list to use as the key')
    .option('--no-wait', 'return at once instead of following the copy of its rows')
    .addHelpText('after', '\nExamples:\n  replicator add public.orders sales.invoices\n  replicator add audit_log --key event_id')
    .action(async (tables: string[], options: Options) => {
      const declaredKey = typeof options.key === 'string' ? options.key.split(',').map((c) => c.trim()) : undefined;
      await withBoth(configFrom(options), 'add', async ({ primary, replica }) => {
        const copies = new Map<QualifiedName, string>();
        for (const name of tables) {
          const { entry, created, existed } = await addTable(primary, replica, name, declaredKey);
          if (existed) {
            process.stdout.write(`already in the replication set: ${describeEntry(entry)}\n`);
            continue;
          }
          copies.set(entry.table, entry.copyRequestedAt);
          process.stdout.write(
            `added ${describeEntry(entry)}${created ? ' (created on the replica)' : ''}; its existing rows will be copied by the running replicator\n`,
          );
        }
        if (options.wait !== false && copies.size > 0) await followCopy(replica, [...copies.keys()], copies);
      });
    });

  withDbOptions(program.command('remove'))
    .description('remove tables from the replication set (drops their capture and pending changes; the replica keeps its rows)')
    .argument('<tables...>', 'schema.table')
    .addHelpText('after', '\nExample:\n  replicator remove public.orders')
    .action(async (tables: string[], options: Options) => {
      await withBoth(configFrom(options), 'remove', async ({ primary }) => {
        for (const name of tables) {
          const registered = (await listTables(primary)).find(
            (t) => displayName(t.table) === name || `${t.table.schema}.${t.table.name}` === name,
          );
          const table = registered?.table ?? (await resolveTable(primary, name).catch(() => undefined));
          const removed = table ? await removeTable(primary, table) : false;
          process.stdout.write(`${removed ? 'removed' : 'not in the replication set:'} ${table ? displayName(table) : name}\n`);
        }
      });
    });

  withDbOptions(program.command('list'))
    .description('list the replication set')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  replicator list\n  replicator list --json')
    .action(async (options: Options) => {
      await withBoth(configFrom(options), 'list', async ({ primary }) => {
        const entries = await listTables(primary);
        if (options.json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
        else for (const entry of entries) process.stdout.write(`${describeEntry(entry)}\n`);
      });
    });

  withDbOptions(program.command('resync'))
    .description(
      'copy a table to the replica afresh (the running replicator empties its replica table and copies it while changes keep flowing); reinstalls a broken capture',
    )
    .argument('[table]', 'schema.table')
    .option(
      '--all',
      "every table, and forget the replica's position: for a replica that follows another primary, or one restored",
    )
    .option('--no-wait', 'return at once instead of following the copy')
    .addHelpText('after', '\nExamples:\n  replicator resync public.orders\n  replicator resync --all')
    .action(async (name: string | undefined, options: Options) => {
      if (!name && !options.all) throw new ReplicatorError('CONFIG_INVALID', 'resync: name a table, or pass --all');
      await withBoth(configFrom(options), 'resync', async ({ primary, replica }) => {
        const requested = new Map<QualifiedName, string>();
        if (options.all) {
          // Claim the primary for this replica and forget the position: every table is copied from its next snapshot.
          await primary.on(claimPrimary(primary, await replica.on(readIdentity(replica)), true));
          await replica.query('DELETE FROM replicator.position');
          for (const entry of await listTables(primary)) {
            const at = await resyncTable(primary, entry.table);
            if (at) requested.set(entry.table, at);
          }
          process.stdout.write(`resync of every table requested (${requested.size}); the running replicator copies them now\n`);
        } else {
          const table = await resolveTable(primary, name as string);
          const at = await resyncTable(primary, table);
          if (!at) {
            throw new ReplicatorError(
              'SCHEMA_MISSING',
              `primary: ${displayName(table)} is not in the replication set; add it with \`replicator add ${name}\``,
            );
          }
          requested.set(table, at);
          process.stdout.write(`resync of ${displayName(table)} requested; the running replicator copies it now\n`);
        }
        if (options.wait !== false && requested.size > 0) await followCopy(replica, [...requested.keys()], requested);
      });
    });

  withDbOptions(program.command('sync-sequences'))
    .description(
      "move the replica's sequences of replicated tables (serial and identity columns) up to the primary's values, before a failover",
    )
    .argument('[tables...]', 'schema.table (default: every table in the replication set)')
    .addHelpText('after', '\nExamples:\n  replicator sync-sequences\n  replicator sync-sequences public.orders')
    .action(async (names: string[], options: Options) => {
      await withBoth(configFrom(options), 'sync-sequences', async ({ primary, replica }) => {
        const tables =
          names.length > 0
            ? await Promise.all(names.map((n) => resolveTable(primary, n)))
            : (await listTables(primary)).map((e) => e.table);
        for (const table of tables) {
          for (const s of await syncSequences(primary, replica, table)) {
            const where = `${displayName(table)}.${s.column}`;
            if (!s.replicaSequence) process.stdout.write(`${where}: the replica's column owns no sequence; skipped\n`);
            else if (s.after === s.before)
              process.stdout.write(
                `${where}: ${s.replicaSequence} at ${s.before ?? 'its start'}, already at or past the primary's ${s.primaryValue ?? 'start'}\n`,
              );
            else process.stdout.write(`${where}: ${s.replicaSequence} set to ${s.after} (was ${s.before ?? 'at its start'})\n`);
          }
        }
      });
    });
}

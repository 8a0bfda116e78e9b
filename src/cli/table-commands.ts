/**
 * `replicator add | remove | list | resync`: the replication set. Adding a
 * table installs its capture on the primary and creates its table on the
 * replica if missing; the running replicator notices at its next batch and,
 * when the table already holds rows, copies them.
 */
import type { Command } from 'commander';
import pg from 'pg';
import {
  addTable,
  listTables,
  type RegisteredTable,
  removeTable,
  requestResync,
  resolveTable,
} from '../capture/replication-set.js';
import type { Config } from '../config/parse-config.js';
import { classifyDatabaseError } from '../db/classify-error.js';
import { connectionConfig } from '../db/connect.js';
import { displayName, type QualifiedName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import { checkReplicaTable, createReplicaTable, describeReplicatedTable } from '../replication/replicated-table.js';
import { followCopy } from './follow-copy.js';

type Options = Record<string, string | boolean | undefined>;

interface Clients {
  primary: pg.Client;
  replica: pg.Client;
}

async function withBoth(config: Config, run: (c: Clients) => Promise<void>): Promise<void> {
  for (const [name, url] of [
    ['PRIMARY_DATABASE_URL', config.primaryUrl],
    ['REPLICA_DATABASE_URL', config.replicaUrl],
  ] as const) {
    if (!url)
      throw new ReplicatorError('CONFIG_INVALID', `${name}: is not set; set both database URLs to change the replication set`);
  }
  const primary = new pg.Client(connectionConfig(config.primaryUrl as string, 'primary'));
  const replica = new pg.Client(connectionConfig(config.replicaUrl as string, 'replica'));
  let role: 'primary' | 'replica' = 'primary';
  try {
    await primary.connect();
    role = 'replica';
    await replica.connect();
    role = 'primary';
    await run({ primary, replica });
  } catch (error) {
    throw classifyDatabaseError(error, role, role === 'primary' ? (config.primaryUrl as string) : (config.replicaUrl as string));
  } finally {
    await Promise.all([primary.end().catch(() => {}), replica.end().catch(() => {})]);
  }
}

function describeEntry(entry: RegisteredTable): string {
  const key = entry.declaredKey ? ` key (${entry.declaredKey.join(', ')})` : '';
  return `${displayName(entry.table)} → change log ${displayName(entry.log)}${key}`;
}

export function registerTableCommands(
  program: Command,
  withDbOptions: (cmd: Command) => Command,
  configFrom: (options: Options) => Config,
): void {
  withDbOptions(program.command('add'))
    .description('add tables to the replication set (installs capture; creates the replica table if missing; idempotent)')
    .argument('<tables...>', 'schema.table (quote names with capitals or spaces: \'"My Schema"."My Table"\')')
    .option('--key <columns>', 'for a table without a primary key: a unique, not-null column list to use as the key')
    .option('--no-wait', 'return at once instead of following the initial copy of existing rows')
    .addHelpText('after', '\nExamples:\n  replicator add public.orders sales.invoices\n  replicator add audit_log --key event_id')
    .action(async (tables: string[], options: Options) => {
      const declaredKey = typeof options.key === 'string' ? options.key.split(',').map((c) => c.trim()) : undefined;
      await withBoth(configFrom(options), async ({ primary, replica }) => {
        const copies = new Map<QualifiedName, string>();
        for (const name of tables) {
          const entry = await addTable(primary, name, declaredKey);
          const table = await describeReplicatedTable(primary, entry);
          const created = await createReplicaTable(primary, replica, table);
          await checkReplicaTable(primary, replica, table);
          if (entry.copyRequestedAt) copies.set(entry.table, entry.copyRequestedAt);
          const copy = entry.copyRequestedAt ? '; its existing rows will be copied by the running replicator' : '';
          process.stdout.write(`added ${describeEntry(entry)}${created ? ' (created on the replica)' : ''}${copy}\n`);
        }
        if (options.wait !== false && copies.size > 0) await followCopy(replica, [...copies.keys()], copies);
      });
    });

  withDbOptions(program.command('remove'))
    .description('remove tables from the replication set (drops their capture and pending changes; the replica keeps its rows)')
    .argument('<tables...>', 'schema.table')
    .addHelpText('after', '\nExample:\n  replicator remove public.orders')
    .action(async (tables: string[], options: Options) => {
      await withBoth(configFrom(options), async ({ primary }) => {
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
      await withBoth(configFrom(options), async ({ primary }) => {
        const entries = await listTables(primary);
        if (options.json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
        else for (const entry of entries) process.stdout.write(`${describeEntry(entry)}\n`);
      });
    });

  withDbOptions(program.command('resync'))
    .description(
      'copy a table to the replica afresh (the running replicator empties its replica table and copies it, while changes keep flowing)',
    )
    .argument('<table>', 'schema.table')
    .option('--no-wait', 'return at once instead of following the copy')
    .addHelpText('after', '\nExample:\n  replicator resync public.orders')
    .action(async (name: string, options: Options) => {
      await withBoth(configFrom(options), async ({ primary, replica }) => {
        const table = await resolveTable(primary, name);
        const requestedAt = await requestResync(primary, table);
        if (!requestedAt) {
          throw new ReplicatorError(
            'SCHEMA_MISSING',
            `primary: ${displayName(table)} is not in the replication set; add it with \`replicator add ${name}\``,
          );
        }
        process.stdout.write(`resync of ${displayName(table)} requested; the running replicator copies it now\n`);
        if (options.wait !== false) await followCopy(replica, [table], new Map([[table, requestedAt]]));
      });
    });
}

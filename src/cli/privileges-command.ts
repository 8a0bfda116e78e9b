/**
 * `replicator privileges`: the least-privilege grants of db/privileges.sql for
 * given role names, printed (to review or paste) or applied with --apply.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type pg from 'pg';
import { listTables } from '../capture/replication-set.js';
import type { Config } from '../config/parse-config.js';
import { Database } from '../db/database.js';
import { sqlPart } from '../db/init-sql.js';
import { quoteIdent } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';

export const PRIVILEGES_SQL_PATH = fileURLToPath(new URL('../../db/privileges.sql', import.meta.url));
const schemaPart = (part: 1 | 2) => sqlPart(readFileSync(PRIVILEGES_SQL_PATH, 'utf8'), part);

type Options = Record<string, string | boolean | undefined>;

const quoteLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** Fills psql-style variables: :"name" as an identifier, :'name' as a literal. */
function fill(sql: string, values: Record<string, string>): string {
  return sql.replace(/:"(\w+)"|:'(\w+)'/g, (match, ident?: string, literal?: string) => {
    const name = (ident ?? literal) as string;
    const value = values[name];
    if (value === undefined) return match;
    return ident ? quoteIdent(value) : quoteLiteral(value);
  });
}

/** PART 2 ends with an example grant for users; it is replaced by one line per replicated table. */
function replicaPart(tables: Array<{ schema: string; name: string }>, role: string): string {
  const part = schemaPart(2);
  const head = part.slice(0, part.indexOf('-- Per replicated table'));
  const perTable = tables.map(
    (t) => `SELECT replicator.grant_table(${quoteLiteral(t.schema)}, ${quoteLiteral(t.name)}, ${quoteLiteral(role)});`,
  );
  return `${fill(head, { replica_role: role })}-- Per replicated table:\n${[...new Set(perTable)].join('\n')}\n`;
}

export interface PrivilegeSql {
  primary: string;
  replica: string;
}

export async function privilegeSql(primaryRole: string, replicaRole: string, primaryUrl?: string): Promise<PrivilegeSql> {
  let tables = [{ schema: 'public', name: 'users' }];
  if (primaryUrl) {
    const primary = new Database({ url: primaryUrl, role: 'primary', max: 1, purpose: 'privileges' });
    try {
      tables = (await listTables(primary)).map((t) => t.table);
    } finally {
      await primary.end();
    }
  }
  return {
    primary: fill(schemaPart(1), { primary_role: primaryRole }),
    replica: replicaPart(tables, replicaRole),
  };
}

async function applyOn(url: string, role: 'primary' | 'replica', sql: string): Promise<void> {
  const db = new Database({ url, role, max: 1, purpose: 'privileges' });
  try {
    // One transaction: all the grants, or none (e.g. SET ON PARAMETER needs a superuser).
    await db.session(async (client: pg.PoolClient) => {
      await client.query(`BEGIN; ${sql}; COMMIT`).catch(async (error) => {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      });
    });
  } finally {
    await db.end();
  }
}

export function registerPrivilegesCommand(
  program: Command,
  withDbOptions: (cmd: Command) => Command,
  configFrom: (options: Options) => Config,
): void {
  withDbOptions(program.command('privileges'))
    .description('print (or --apply) the least-privilege grants for the replicator logins on both databases')
    .requiredOption('--primary-role <name>', 'login the replicator uses on the primary')
    .requiredOption('--replica-role <name>', 'login the replicator uses on the replica')
    .option('--apply', 'run the grants with the configured (owner) URLs instead of printing them')
    .addHelpText(
      'after',
      '\nExamples:\n  replicator privileges --primary-role replicator --replica-role replicator\n  replicator privileges --primary-role replicator --replica-role replicator --apply',
    )
    .action(async (options: Options) => {
      const config = configFrom(options);
      const sql = await privilegeSql(String(options.primaryRole), String(options.replicaRole), config.primaryUrl);
      if (!options.apply) {
        process.stdout.write(`-- On the primary\n${sql.primary}\n-- On the replica\n${sql.replica}`);
        return;
      }
      if (!config.primaryUrl || !config.replicaUrl) {
        throw new ReplicatorError(
          'CONFIG_INVALID',
          "PRIMARY_DATABASE_URL: --apply needs both database URLs (as the tables' owner)",
        );
      }
      await applyOn(config.primaryUrl, 'primary', sql.primary);
      await applyOn(config.replicaUrl, 'replica', sql.replica);
      process.stdout.write('grants applied on the primary and the replica\n');
    });
}

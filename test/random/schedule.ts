/**
 * What the randomized test does besides writing: a DBA changing the schema
 * (on the primary, and on the replica the way README's "What happens on DDL"
 * asks, in either order where both are valid), partition maintenance, and
 * resyncs. Every event is logged in `events`, so a failing run says what
 * happened in it. The replicator's kills are in the test itself.
 */
import type pg from 'pg';
import type { Shared } from './families.js';
import type { Rng } from './prng.js';

export interface ScheduleContext {
  rng: Rng;
  shared: Shared;
  enabled: ReadonlySet<string>;
  primary: pg.Client;
  replica: pg.Client;
  /** A pause between the two servers' DDL, while writes go on (part of the scenario, not a synchronization). */
  pause: (ms: number) => Promise<void>;
  resync: (table: string) => Promise<void>;
  events: string[];
}

/**
 * Who held the lock the DDL waited for, and what they wait for in turn: the
 * sessions with a transaction open for over 5 s, and every session that is
 * not idle (the lock is gone by the time the error is caught; the holder's
 * transaction and what keeps it open rarely are).
 */
async function sessions(client: pg.Client): Promise<string> {
  const { rows } = await client
    .query<{ who: string }>(
      `SELECT format('pid %s (%s) %s%s for %s: %s', pid, application_name, state,
                     coalesce(' waiting on ' || wait_event_type || ':' || wait_event, ''),
                     date_trunc('millisecond', now() - coalesce(xact_start, query_start)), left(query, 160)) AS who
         FROM pg_catalog.pg_stat_activity
        WHERE pid <> pg_catalog.pg_backend_pid() AND backend_type IN ('client backend', 'walsender')
          AND (xact_start < now() - interval '5 s' OR state <> 'idle')`,
    )
    .catch((error: Error) => ({ rows: [{ who: `(could not read pg_stat_activity: ${error.message})` }] }));
  return rows.map((r) => r.who).join('; ') || 'none';
}

/**
 * Runs DDL on one server in its own transaction, waiting at most 10 s for
 * writers' locks, retried; the last failure lists the sessions on both servers.
 */
async function runDdl(ctx: ScheduleContext, client: pg.Client, server: string, sql: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(`BEGIN; SET LOCAL lock_timeout = '10s'; ${sql}; COMMIT`);
      return;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      const code = (error as { code?: string }).code ?? '';
      if (!['55P03', '40P01'].includes(code)) throw error;
      if (attempt >= 5)
        throw new Error(
          `${server}: "${sql}" failed ${attempt} times (${code}: ${(error as Error).message}); sessions on the primary: ${await sessions(ctx.primary)}; on the replica: ${await sessions(ctx.replica)}`,
          { cause: error },
        );
    }
  }
}

const onPrimary = (ctx: ScheduleContext, sql: string) => runDdl(ctx, ctx.primary, 'primary', sql);
const onReplica = (ctx: ScheduleContext, sql: string) => runDdl(ctx, ctx.replica, 'replica', sql);

/** Both servers, in the given order, with a pause between. */
async function both(
  ctx: ScheduleContext,
  order: 'replica-first' | 'primary-first',
  primary: string,
  replica: string,
  afterPrimary: () => void,
) {
  const pause = ctx.rng.int(0, 3000);
  if (order === 'replica-first') {
    await onReplica(ctx, replica);
    await ctx.pause(pause);
    await onPrimary(ctx, primary);
    afterPrimary();
  } else {
    await onPrimary(ctx, primary);
    afterPrimary();
    await ctx.pause(pause);
    await onReplica(ctx, replica);
  }
}

export async function ddlEvent(ctx: ScheduleContext): Promise<void> {
  const { rng, shared } = ctx;
  const columns = [...shared.ddlColumns];
  const kind = rng.weighted([
    [4, 'add'],
    [1, columns.length > 1 ? 'drop' : 'add'],
    [1, columns.some(([, t]) => t === 'int') ? 'type' : 'add'],
    [1, 'rename'],
  ] as const);
  const order = rng.pick(['replica-first', 'primary-first'] as const);
  switch (kind) {
    case 'add': {
      const name = `c${shared.nextDdlColumn++}`;
      const type = rng.pick(['int', 'text']);
      const byDefault = rng.chance(0.5) ? (type === 'int' ? ' DEFAULT 7' : " DEFAULT 'd'") : '';
      const table = ctx.enabled.has('partitions') && rng.chance(0.3) ? 't_part' : 't_ddl';
      const fill =
        table === 't_ddl' && rng.chance(0.4)
          ? `; UPDATE t_ddl SET ${name} = ${type === 'int' ? 'id % 10' : "'filled'"} WHERE id % 2 = 0`
          : '';
      const primary = `ALTER TABLE ${table} ADD COLUMN ${name} ${type}${byDefault}${fill}`;
      const replica = `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${name} ${type}${byDefault}`;
      const learn = () => {
        if (table === 't_ddl') shared.ddlColumns.set(name, type);
      };
      if (ctx.enabled.has('auto-add-columns') && rng.chance(0.7)) {
        // Left to the replicator (AUTO_ADD_COLUMNS), or added by the DBA a moment later.
        const dbaToo = rng.chance(0.3);
        ctx.events.push(`${primary} (primary; ${dbaToo ? 'replica by the DBA later' : 'replica: left to AUTO_ADD_COLUMNS'})`);
        await onPrimary(ctx, primary);
        learn();
        if (dbaToo) {
          await ctx.pause(rng.int(0, 3000));
          await onReplica(ctx, replica);
        }
        return;
      }
      ctx.events.push(`${primary} (${order})`);
      await both(ctx, order, primary, replica, learn);
      return;
    }
    case 'drop': {
      const [name] = rng.pick(columns);
      ctx.events.push(`ALTER TABLE t_ddl DROP COLUMN ${name} (primary, then replica)`);
      await onPrimary(ctx, `ALTER TABLE t_ddl DROP COLUMN ${name}`);
      shared.ddlColumns.delete(name);
      await ctx.pause(rng.int(0, 3000));
      await onReplica(ctx, `ALTER TABLE t_ddl DROP COLUMN IF EXISTS ${name}`);
      return;
    }
    case 'type': {
      const [name] = rng.pick(columns.filter(([, t]) => t === 'int'));
      const sql = `ALTER TABLE t_ddl ALTER COLUMN ${name} TYPE bigint`;
      ctx.events.push(`${sql} (${order})`);
      await both(ctx, order, sql, sql, () => shared.ddlColumns.set(name, 'bigint'));
      return;
    }
    case 'rename': {
      const [name, type] = rng.pick(columns);
      const to = `r${shared.nextDdlColumn++}`;
      const sql = `ALTER TABLE t_ddl RENAME COLUMN ${name} TO ${to}`;
      ctx.events.push(`${sql} (${order})`);
      await both(ctx, order, sql, sql, () => {
        shared.ddlColumns.delete(name);
        shared.ddlColumns.set(to, type);
      });
      return;
    }
  }
}

/** A new partition (future partitions are captured with the root), or with partition-ddl a detach or an attach. */
export async function partitionEvent(ctx: ScheduleContext): Promise<void> {
  const { rng, shared } = ctx;
  const maintenance = ctx.enabled.has('partition-ddl');
  const kind = rng.weighted([
    [2, 'create'],
    [maintenance && shared.regions.length > 2 ? 1 : 0, 'detach'],
    [maintenance ? 1 : 0, 'attach'],
  ] as const);
  if (kind === 'create') {
    const region = shared.nextRegion++;
    ctx.events.push(`CREATE TABLE t_part_r${region} PARTITION OF t_part (primary)`);
    await onPrimary(ctx, `CREATE TABLE t_part_r${region} PARTITION OF t_part FOR VALUES IN (${region})`);
    shared.regions.push(region);
  } else if (kind === 'detach') {
    const region = rng.pick(shared.regions.filter((r) => r !== 0));
    shared.regions = shared.regions.filter((r) => r !== region);
    ctx.events.push(`ALTER TABLE t_part DETACH PARTITION t_part_r${region}; DROP TABLE t_part_r${region} (primary)`);
    await onPrimary(ctx, `ALTER TABLE t_part DETACH PARTITION t_part_r${region}; DROP TABLE t_part_r${region}`);
  } else {
    const region = shared.nextRegion++;
    const first = shared.id('t_part', 20);
    ctx.events.push(`ATTACH PARTITION t_part_r${region} holding 20 rows (primary)`);
    await onPrimary(
      ctx,
      `CREATE TABLE t_part_r${region} (LIKE t_part INCLUDING DEFAULTS);
       INSERT INTO t_part_r${region} (id, region, v) SELECT g, ${region}, 'attached' FROM generate_series(${first}, ${first + 19}) g;
       ALTER TABLE t_part ATTACH PARTITION t_part_r${region} FOR VALUES IN (${region})`,
    );
    shared.regions.push(region);
  }
}

export async function resyncEvent(ctx: ScheduleContext, tables: readonly string[]): Promise<void> {
  const table = ctx.rng.pick(tables);
  ctx.events.push(`replicator resync ${table}`);
  await ctx.resync(table);
}

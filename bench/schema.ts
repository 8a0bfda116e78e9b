/**
 * The benchmark's own table, created with plain SQL on both servers, the way
 * an application's table exists before anyone replicates it. Its shape is the
 * demo's users table (bigint key, text columns, a unique text column,
 * timestamptz), but it is not the table `replicator install-primary` creates:
 * the benchmark depends on nothing the replicator installs.
 */
import type pg from 'pg';
import type { ComparedTable } from './measure.js';

export const ITEMS = 'bench.items';

export const ITEMS_TABLE: ComparedTable = {
  table: ITEMS,
  key: ['id'],
  columns: ['id', 'name', 'email', 'created_at', 'updated_at'],
};

const CREATE_ITEMS = `
  CREATE SCHEMA bench;
  CREATE TABLE bench.items (
    id         bigint PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  );`;

// Stamps each row's arrival on the replica, for the lag workloads. ENABLE
// ALWAYS: native apply and pg-replicator both write with
// session_replication_role = replica, under which ordinary triggers do not fire.
const ARRIVAL_STAMP = `
  ALTER TABLE bench.items ADD COLUMN arrived_at timestamptz;
  CREATE FUNCTION bench.stamp_arrival() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    NEW.arrived_at = clock_timestamp();
    RETURN NEW;
  END $$;
  CREATE TRIGGER items_arrival BEFORE INSERT OR UPDATE ON bench.items FOR EACH ROW EXECUTE FUNCTION bench.stamp_arrival();
  ALTER TABLE bench.items ENABLE ALWAYS TRIGGER items_arrival;`;

export interface ItemsOptions {
  /** The replica's arrived_at column and trigger (lag workloads). */
  arrivalStamp?: boolean;
}

/** bench.items on both servers of a run's fresh databases. */
export async function createItems(primary: pg.ClientBase, replica: pg.ClientBase, options: ItemsOptions = {}): Promise<void> {
  await primary.query(CREATE_ITEMS);
  await replica.query(CREATE_ITEMS);
  if (options.arrivalStamp) await replica.query(ARRIVAL_STAMP);
}

/**
 * Fresh tables for every run, so no run inherits another's rows, dead tuples,
 * change log or replication position. The schemas are the project's own
 * (installPrimary / installReplica run db/init.sql), so the benchmark measures
 * exactly what a user installs.
 */
import type pg from 'pg';
import { installDemo } from '../src/embedded/install-demo.js';

const CAPTURE_TRIGGERS = [
  'users_change_trigger',
  'users_change_trigger_update',
  'users_change_trigger_delete',
  'users_change_trigger_truncate',
];

/**
 * Drops and recreates users and user_changes. Without capture (the native run,
 * and the capture-cost baseline) the four capture triggers are dropped so they
 * cost nothing; the demo's updated_at trigger stays, since it is part of the
 * application's table and fires the same under both methods.
 */
export async function resetPrimary(primary: pg.ClientBase, options: { capture: boolean }): Promise<void> {
  // The replicator schema too, if the install keeps bookkeeping there: nothing of a previous run survives.
  await primary.query('DROP TABLE IF EXISTS users, user_changes CASCADE; DROP SCHEMA IF EXISTS replicator CASCADE');
  await installDemo(primary, 'primary');
  if (!options.capture) {
    for (const trigger of CAPTURE_TRIGGERS) await primary.query(`DROP TRIGGER ${trigger} ON users`);
  }
  await primary.query('CHECKPOINT');
}

// Stamps each row's arrival on the replica. ENABLE ALWAYS: both native apply
// and pg-replicator write with session_replication_role = replica, under which
// ordinary triggers do not fire.
const ARRIVAL_STAMP = `
  ALTER TABLE users ADD COLUMN arrived_at timestamptz;
  CREATE OR REPLACE FUNCTION bench_stamp_arrival() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    NEW.arrived_at = clock_timestamp();
    RETURN NEW;
  END $$;
  CREATE TRIGGER users_arrival BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION bench_stamp_arrival();
  ALTER TABLE users ENABLE ALWAYS TRIGGER users_arrival;`;

/** Drops and recreates the replica's users table and pg-replicator's position. */
export async function resetReplica(replica: pg.ClientBase, options: { arrivalStamp: boolean }): Promise<void> {
  await replica.query('DROP TABLE IF EXISTS users CASCADE; DROP SCHEMA IF EXISTS replicator CASCADE');
  await installDemo(replica, 'replica');
  if (options.arrivalStamp) await replica.query(ARRIVAL_STAMP);
  await replica.query('CHECKPOINT');
}

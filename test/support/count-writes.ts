/**
 * Exactly once, counted: a replica trigger on `users` that records every
 * write the apply makes to a row (ENABLE ALWAYS, so it fires under
 * session_replication_role = replica too; it names its table in full, as the
 * apply runs with search_path = pg_catalog, pg_temp). A row written twice
 * for one primary change shows up as two.
 */
import type pg from 'pg';
import { REPLICATOR_ROLE } from './servers.js';

export async function countReplicaWrites(replicaSql: pg.Client): Promise<void> {
  await replicaSql.query(`
    CREATE TABLE applied_writes (user_id bigint, op text);
    CREATE FUNCTION count_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO public.applied_writes VALUES (coalesce(NEW.user_id, OLD.user_id), TG_OP); RETURN NULL; END $$;
    CREATE TRIGGER count_write AFTER INSERT OR UPDATE OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION count_write();
    ALTER TABLE users ENABLE ALWAYS TRIGGER count_write;
    GRANT INSERT ON applied_writes TO ${REPLICATOR_ROLE};`);
}

/** Writes per user_id, in user_id order. */
export async function writesPerRow(replicaSql: pg.Client): Promise<Array<{ user_id: string; n: number }>> {
  return (await replicaSql.query('SELECT user_id, count(*)::int AS n FROM applied_writes GROUP BY 1 ORDER BY 1')).rows;
}

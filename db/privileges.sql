-- Least privilege for pg-replicator: the rights its two logins need, no more.
-- Run as the owner of the replicated tables (PART 2's last line needs a
-- superuser), after db/init.sql. The logins must exist:
--   CREATE ROLE replicator LOGIN PASSWORD '...';
-- `replicator privileges --primary-role NAME --replica-role NAME` prints this
-- file with the names filled in and the replica grants for every table in the
-- replication set.

-- PART 1: primary database ---------------------------------------------------
-- Read the registry and the change logs, mark changes processed, delete them
-- after the retention, read the replicated tables (initial copy, verify).
-- LISTEN needs no grant. Tables added later are granted by add_table.
SELECT replicator.grant_replicator(:'primary_role');

-- PART 2: replica database ---------------------------------------------------
-- Write the replicated tables and the replication position (the initial
-- copy's temporary staging table needs TEMPORARY on the database, which
-- PostgreSQL grants to PUBLIC by default). session_replication_role = replica keeps
-- the replica's triggers and foreign keys from firing during apply
-- (PostgreSQL 15+, granted by a superuser); without it the replicator runs and
-- warns. Replica tables created later by `replicator add` are granted to every
-- role that may use schema replicator.
GRANT USAGE ON SCHEMA replicator TO :"replica_role";
GRANT SELECT, INSERT, UPDATE ON replicator.position, replicator.copy_progress TO :"replica_role";
GRANT SET ON PARAMETER session_replication_role TO :"replica_role";
-- Per replicated table (the command prints one line per table of the set):
GRANT USAGE ON SCHEMA public TO :"replica_role";
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON public.users TO :"replica_role";

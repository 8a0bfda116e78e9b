-- Least privilege for pg-replicator: the rights its two logins need, no more.
-- Run as the owner of the replicated tables, after `replicator init` (the
-- replica's last line needs a superuser). The logins must exist:
--   CREATE ROLE replicator LOGIN PASSWORD '...';
-- `replicator privileges --primary-role NAME --replica-role NAME` prints this
-- file with the names filled in and one line per table of the replication
-- set; --apply runs it. Every grant is recorded (replicator.grants) and
-- revoked by `replicator uninstall`; tables added later are granted to the
-- logins named here (replicator.logins), and to no other role.

-- PART 1: primary database ---------------------------------------------------
-- Read the registry and the fingerprint view, read each replicated table
-- (batches, initial copy, verify) and its change log, prune the log, mark
-- the demo's log processed, arm the wakeup token, record the replica's
-- progress. LISTEN needs no grant.
SELECT replicator.grant_replicator(:'primary_role');

-- PART 2: replica database ---------------------------------------------------
-- Write the replicated tables, the position and the copy progress (the
-- staging tables are temporary: TEMPORARY on the database, PostgreSQL's
-- default for PUBLIC). session_replication_role = replica keeps the replica's
-- triggers and foreign keys from firing during apply (PostgreSQL 15+, granted
-- by a superuser); without it the replicator runs and warns.
SELECT replicator.grant_replicator(:'replica_role');
SELECT replicator.grant_to('parameter', 'session_replication_role', 'SET', :'replica_role');
-- Per replicated table (the command prints one line per table of the set):
SELECT replicator.grant_table('public', 'users', :'replica_role');

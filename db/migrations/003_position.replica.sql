-- pg-replicator migration 3 (replica): where replication has reached, and
-- the progress of initial copies.

-- The position, written in the same transaction as the rows it covers: after
-- a crash the replica itself says what it holds, so nothing is applied twice
-- or lost. It names its source (the primary's system identifier and
-- database): a position from another cluster (a restore, a changed URL) is
-- refused, never trusted.
CREATE TABLE replicator.position (
    name              text PRIMARY KEY,
    source_system_id  text NOT NULL,      -- pg_control_system().system_identifier of the primary
    source_database   text NOT NULL,      -- the primary database's name
    mode              text NOT NULL DEFAULT 'trigger',
    snapshot          text,               -- trigger mode: pg_snapshot of the primary the replica is equal to
    previous_snapshot text,               -- the one before: the last batch was the changes between the two
    lsn               pg_lsn,             -- logical mode: end of the last transaction applied
    last_change_id    bigint NOT NULL DEFAULT 0,  -- highest change id applied (trigger mode)
    changes_applied   bigint NOT NULL DEFAULT 0,
    applied_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Initial copy progress per table, written in the same transaction as each
-- copied chunk: a crash resumes after the last finished chunk.
CREATE TABLE replicator.copy_progress (
    table_schema   text NOT NULL,
    table_name     text NOT NULL,
    requested_at   timestamptz NOT NULL,  -- the primary's copy_requested_at this copy serves
    last_key       text,                  -- JSON object of the last copied key; NULL: none yet
    rows_copied    bigint NOT NULL DEFAULT 0,
    rows_estimated bigint,
    done           boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (table_schema, table_name)
);

-- The partitions of each partitioned primary table, as the replicator last
-- saw them (their oids on the primary). A partition attached with rows, or
-- detached or dropped, changes rows without a captured statement; the
-- replicator notices the difference here, across restarts too, and has the
-- table copied afresh.
CREATE TABLE replicator.partitions (
    table_schema text NOT NULL,
    table_name   text NOT NULL,
    leaves       oid[] NOT NULL,
    PRIMARY KEY (table_schema, table_name)
);

-- Gives a replicator login what it needs on the replica apart from the
-- replicated tables themselves (granted per table by `replicator add` and
-- `replicator privileges`, recorded in replicator.grants).
CREATE FUNCTION replicator.grant_replicator(role_name name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $gr$
BEGIN
    INSERT INTO replicator.logins VALUES (role_name) ON CONFLICT DO NOTHING;
    PERFORM replicator.grant_to('schema', 'replicator', 'USAGE', role_name);
    PERFORM replicator.grant_to('table', 'replicator.migrations', 'SELECT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.position', 'SELECT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.position', 'INSERT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.position', 'UPDATE', role_name);
    PERFORM replicator.grant_to('table', 'replicator.position', 'DELETE', role_name);
    PERFORM replicator.grant_to('table', 'replicator.copy_progress', 'SELECT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.copy_progress', 'INSERT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.copy_progress', 'UPDATE', role_name);
    PERFORM replicator.grant_to('table', 'replicator.partitions', 'SELECT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.partitions', 'INSERT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.partitions', 'UPDATE', role_name);
END
$gr$;
REVOKE ALL ON FUNCTION replicator.grant_replicator(name) FROM PUBLIC;

-- What a login needs on one replicated table of the replica: write it.
CREATE FUNCTION replicator.grant_table(t_schema text, t_name text, role_name name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $gt$
BEGIN
    PERFORM replicator.grant_to('schema', format('%I', t_schema), 'USAGE', role_name);
    PERFORM replicator.grant_to('table', format('%I.%I', t_schema, t_name), 'SELECT', role_name);
    PERFORM replicator.grant_to('table', format('%I.%I', t_schema, t_name), 'INSERT', role_name);
    PERFORM replicator.grant_to('table', format('%I.%I', t_schema, t_name), 'UPDATE', role_name);
    PERFORM replicator.grant_to('table', format('%I.%I', t_schema, t_name), 'DELETE', role_name);
    PERFORM replicator.grant_to('table', format('%I.%I', t_schema, t_name), 'TRUNCATE', role_name);
END
$gt$;
REVOKE ALL ON FUNCTION replicator.grant_table(text, text, name) FROM PUBLIC;

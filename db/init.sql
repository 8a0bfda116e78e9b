-- pg-replicator schema for the demo: GENERATED from db/migrations and db/demo.sql
-- by `npm run build:sql`; edit those, not this file.
-- Paste PART 1 into the primary and PART 2 into the replica (psql -f works too).
-- Running a part again changes nothing. Requires PostgreSQL 14 or newer.

-- PART 1: primary database ------------------------------------------------------

-- The replicator's own objects (schema replicator), as `replicator init primary` installs them.
CREATE SCHEMA IF NOT EXISTS replicator;
CREATE TABLE IF NOT EXISTS replicator.migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
DO $migrations$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    PERFORM pg_catalog.pg_advisory_xact_lock(7301449012101);
    IF pg_catalog.to_regclass('replicator.tables') IS NOT NULL
       AND NOT EXISTS (SELECT FROM replicator.migrations m WHERE m.version = 1) THEN
        RAISE EXCEPTION 'schema replicator holds a pre-release install of pg-replicator'
            USING HINT = 'remove it with `replicator uninstall`, then run this part again';
    END IF;
    IF NOT EXISTS (SELECT FROM replicator.migrations m WHERE m.version = 1) THEN
        EXECUTE $m001$
-- pg-replicator migration 1 (both sides): the logins the replicator runs as,
-- a record of every grant it makes (so uninstall revokes exactly those), and
-- how a key column is compared.
-- Every function pins search_path = pg_catalog, pg_temp and qualifies what
-- it names; EXECUTE is revoked from PUBLIC.

-- The logins the replicator runs as (granted by grant_replicator): tables
-- added later are granted to these roles, and to no other.
CREATE TABLE replicator.logins (
    role_name name PRIMARY KEY
);

-- Every grant the replicator made, so uninstall revokes exactly those and
-- leaves a DBA's own grants alone.
CREATE TABLE replicator.grants (
    object_kind text NOT NULL,   -- 'table' | 'schema' | 'column' | 'sequence' | 'function' | 'parameter'
    object_name text NOT NULL,   -- as SQL: a quoted, qualified name (table, schema) or signature (function)
    privilege   text NOT NULL,   -- as SQL: 'SELECT', 'UPDATE (processed)', 'USAGE', ...
    role_name   name NOT NULL,
    PRIMARY KEY (object_kind, object_name, privilege, role_name)
);

-- The keyword GRANT and REVOKE use for a kind of object.
CREATE FUNCTION replicator.object_keyword(kind text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE kind WHEN 'column' THEN 'TABLE' ELSE upper(kind) END
$$;

-- Records a grant the replicator makes and makes it, unless the role already
-- holds that privilege through a grant of its own (then uninstall leaves it).
CREATE FUNCTION replicator.grant_to(kind text, object text, privilege text, role_name name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $g$
DECLARE
    held boolean;
BEGIN
    IF EXISTS (SELECT FROM replicator.grants g WHERE g.object_kind = kind AND g.object_name = object
               AND g.privilege = grant_to.privilege AND g.role_name = grant_to.role_name) THEN
        EXECUTE format('GRANT %s ON %s %s TO %I', privilege, replicator.object_keyword(kind), object, role_name);
        RETURN;
    END IF;
    held := CASE kind
        WHEN 'table'    THEN pg_catalog.has_table_privilege(role_name, object, privilege)
        WHEN 'column'   THEN false
        WHEN 'schema'   THEN pg_catalog.has_schema_privilege(role_name, (pg_catalog.parse_ident(object))[1], privilege)
        WHEN 'sequence' THEN pg_catalog.has_sequence_privilege(role_name, object, privilege)
        WHEN 'function' THEN pg_catalog.has_function_privilege(role_name, object, privilege)
        ELSE false  -- 'parameter' (PostgreSQL 15+): granted and recorded
    END;
    IF held THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('GRANT %s ON %s %s TO %I', privilege, replicator.object_keyword(kind), object, role_name);
    EXCEPTION WHEN insufficient_privilege OR syntax_error THEN
        -- GRANT SET ON PARAMETER needs a superuser and PostgreSQL 15: without it the replicator runs and warns.
        IF kind <> 'parameter' THEN RAISE; END IF;
        RAISE WARNING 'could not grant % on parameter % to % (%): replica triggers and foreign keys will fire during apply',
            privilege, object, role_name, SQLERRM;
        RETURN;
    END;
    INSERT INTO replicator.grants VALUES (kind, object, privilege, role_name);
END
$g$;
REVOKE ALL ON FUNCTION replicator.grant_to(text, text, text, name) FROM PUBLIC;

-- Revokes the grants the replicator made on one object (or all of them).
CREATE FUNCTION replicator.revoke_grants(kind text DEFAULT NULL, object text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $rv$
DECLARE
    g replicator.grants;
    n int := 0;
BEGIN
    FOR g IN SELECT * FROM replicator.grants r
             WHERE (kind IS NULL OR r.object_kind = kind) AND (object IS NULL OR r.object_name = object) LOOP
        BEGIN
            EXECUTE format('REVOKE %s ON %s %s FROM %I', g.privilege, replicator.object_keyword(g.object_kind),
                           g.object_name, g.role_name);
        EXCEPTION WHEN undefined_table OR undefined_object OR undefined_function OR invalid_schema_name THEN
            NULL; -- the object is gone, and its grants with it
        END;
        DELETE FROM replicator.grants r WHERE r = g;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$rv$;
REVOKE ALL ON FUNCTION replicator.revoke_grants(text, text) FROM PUBLIC;


-- The operator a key column is compared with, schema-qualified for
-- OPERATOR(...): the one of the operator class its unique index uses (btree
-- strategy 1 <, 2 <=, 3 =, 4 >=, 5 >), so a key of an extension type (ltree,
-- citext, isbn13) compares correctly under the pinned search_path.
CREATE FUNCTION replicator.key_operator(rel oid, col text, strategy int) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('%I.%s', n.nspname, o.oprname)
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisunique AND a.attnum = ANY (i.indkey::int2[])
    -- indkey and indclass both start at 0
    JOIN pg_catalog.pg_opclass c ON c.oid = (i.indclass::oid[])[array_position(i.indkey::int2[], a.attnum)]
    JOIN pg_catalog.pg_amop ao ON ao.amopfamily = c.opcfamily AND ao.amopstrategy = strategy
         AND ao.amoplefttype = c.opcintype AND ao.amoprighttype = c.opcintype
    JOIN pg_catalog.pg_operator o ON o.oid = ao.amopopr
    JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
    WHERE a.attrelid = rel AND a.attname = col
    ORDER BY i.indisprimary DESC
    LIMIT 1
$$;

CREATE FUNCTION replicator.key_equality(rel oid, col text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT replicator.key_operator(rel, col, 3)
$$;
$m001$;
        INSERT INTO replicator.migrations (version, name) VALUES (1, 'grants');
    END IF;
    IF NOT EXISTS (SELECT FROM replicator.migrations m WHERE m.version = 2) THEN
        EXECUTE $m002$
-- pg-replicator migration 2 (primary): the replication set and its capture.
--
-- Security: every function here pins search_path = pg_catalog, pg_temp and
-- names every object it uses with its schema, so no object a caller can create
-- (a temporary table, a function in public) is ever resolved in its place.
-- Only the capture functions are SECURITY DEFINER (writers need no rights on
-- the change logs); they are trigger functions, which nobody can call directly.
-- EXECUTE on the rest is revoked from PUBLIC; the install role keeps it.

-- The replication set: which tables are captured, into which change log, by
-- which key. relid is the table's oid when it was added: a table dropped and
-- created again under the same name has another, and its capture is gone.
CREATE TABLE replicator.tables (
    table_schema      text NOT NULL,
    table_name        text NOT NULL,
    relid             oid NOT NULL,
    log_schema        text NOT NULL,
    log_name          text NOT NULL,
    function_schema   text NOT NULL,
    function_name     text NOT NULL,
    trigger_name      text NOT NULL,     -- the INSERT trigger; the others add _update, _delete, _truncate
    key_columns       text[] NOT NULL,   -- the table's columns that identify a row
    log_key_columns   text[] NOT NULL,   -- the same key in the change log (renamed where a name is the log's own)
    declared_key      boolean NOT NULL,  -- true: named at add (--key); false: the primary key
    mark_processed    boolean NOT NULL DEFAULT false, -- the log has a processed column to keep up to date (the demo's)
    capture_version   int NOT NULL,      -- the template version its capture was generated from
    added_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- When the replica was last asked for a full copy (at add, resync): the
    -- replicator copies the table once per request, while changes flow.
    copy_requested_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    -- Set by `replicator remove`; the entry stays so TABLES does not add it back.
    removed_at        timestamptz,
    PRIMARY KEY (table_schema, table_name)
);

-- Which replica this primary feeds, and how far that replica has confirmed.
-- One replica per primary for now: a second replicator for another replica
-- would have its changes pruned by the first, so it is refused.
CREATE TABLE replicator.consumer (
    id                 int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    replica_system_id  text NOT NULL,
    replica_database   text NOT NULL,
    acked_snapshot     pg_snapshot,        -- the replica holds every change visible here
    acked_at           timestamptz,
    claimed_at         timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- The wakeup token. A replicator that runs out of work arms it (setval to 1,
-- not called); the first captured statement after that draws 1 and sends one
-- NOTIFY, every later one draws more and sends nothing. So at most one
-- writer per wait pays for a notification (PostgreSQL serializes the commits
-- of notifying transactions), and never where PREPARE TRANSACTION may be used
-- (a notifying transaction cannot be prepared): there the replicator polls.
-- While it is not armed, writers only read it (is_called), never draw.
CREATE SEQUENCE replicator.wakeup AS bigint;

-- The capture of one table, generated from its registry entry: a function with
-- static SQL (plans are cached) and its triggers, all ENABLE ALWAYS so they fire
-- in sessions with session_replication_role = replica too. A plain table gets
-- statement-level triggers with transition tables (one INSERT ... SELECT per
-- statement); a partitioned table gets a row-level trigger, which PostgreSQL
-- clones onto every partition, present and future, so statements that name a
-- partition directly are captured; TRUNCATE gets a statement trigger on the
-- table and on each of its partitions. The log holds keys, not rows: the
-- replicator reads each changed row from the table itself, in the snapshot
-- its batch ends at.
CREATE FUNCTION replicator.install_capture(entry replicator.tables) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $install$
DECLARE
    target    regclass := entry.relid::regclass;
    log       text := format('%I.%I', entry.log_schema, entry.log_name);
    fn        text := format('%I.%I', entry.function_schema, entry.function_name);
    kind      "char";
    log_cols  text;  -- the log's key columns, as an INSERT column list
    new_keys  text;  -- n.k1, n.k2
    old_keys  text;
    new_vals  text;  -- NEW.k1, NEW.k2
    old_vals  text;
    same_rows text;  -- n.k1 OPERATOR(s.=) o.k1 AND ...
    same_vals text;  -- NEW.k1 OPERATOR(s.=) OLD.k1 AND ...
    wakeup    text;
    body      text;
    part      regclass;
BEGIN
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = entry.relid;
    SELECT string_agg(format('%I', lk), ', ' ORDER BY i),
           string_agg(format('n.%I', k), ', ' ORDER BY i), string_agg(format('o.%I', k), ', ' ORDER BY i),
           string_agg(format('NEW.%I', k), ', ' ORDER BY i), string_agg(format('OLD.%I', k), ', ' ORDER BY i),
           string_agg(format('n.%1$I OPERATOR(%2$s) o.%1$I', k, op), ' AND ' ORDER BY i),
           string_agg(format('NEW.%1$I OPERATOR(%2$s) OLD.%1$I', k, op), ' AND ' ORDER BY i)
      INTO log_cols, new_keys, old_keys, new_vals, old_vals, same_rows, same_vals
      FROM unnest(entry.key_columns, entry.log_key_columns) WITH ORDINALITY AS u(k, lk, i),
           LATERAL (SELECT replicator.key_equality(entry.relid, u.k) AS op) o;

    -- Reading the sequence costs a buffer read; only while the token is armed
    -- (not yet called) does a writer draw from it.
    wakeup := $w$
        IF NOT (SELECT w.is_called FROM replicator.wakeup AS w)
           AND pg_catalog.nextval('replicator.wakeup'::pg_catalog.regclass) OPERATOR(pg_catalog.=) 1
           AND pg_catalog.current_setting('max_prepared_transactions') OPERATOR(pg_catalog.=) '0' THEN
            PERFORM pg_catalog.pg_notify('pg_replicator', '');
        END IF;$w$;

    IF kind = 'p' THEN
        body := format($b$
        BEGIN
            IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
                INSERT INTO %1$s (operation, relid) VALUES ('TRUNCATE', TG_RELID);
            ELSIF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
                INSERT INTO %1$s (operation, %2$s) VALUES ('INSERT', %3$s);
            ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
                IF NOT (%5$s) THEN
                    INSERT INTO %1$s (operation, %2$s) VALUES ('DELETE', %4$s);
                END IF;
                INSERT INTO %1$s (operation, %2$s) VALUES ('UPDATE', %3$s);
            ELSE
                INSERT INTO %1$s (operation, %2$s) VALUES ('DELETE', %4$s);
            END IF;%6$s
            RETURN NULL;
        END$b$, log, log_cols, new_vals, old_vals, same_vals, wakeup);
    ELSE
        body := format($b$
        BEGIN
            IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
                INSERT INTO %1$s (operation, %2$s) SELECT 'INSERT', %3$s FROM new_rows n;
            ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
                -- A row whose key changed leaves nothing under its old key.
                INSERT INTO %1$s (operation, %2$s) SELECT 'DELETE', %4$s FROM old_rows o
                WHERE NOT EXISTS (SELECT FROM new_rows n WHERE %5$s);
                INSERT INTO %1$s (operation, %2$s) SELECT 'UPDATE', %3$s FROM new_rows n;
            ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
                INSERT INTO %1$s (operation, %2$s) SELECT 'DELETE', %4$s FROM old_rows o;
            ELSE
                INSERT INTO %1$s (operation, relid) VALUES ('TRUNCATE', TG_RELID);
            END IF;%6$s
            RETURN NULL;
        END$b$, log, log_cols, new_keys, old_keys, same_rows, wakeup);
    END IF;

    EXECUTE format($f$CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %L$f$, fn, body);
    EXECUTE format('REVOKE ALL ON FUNCTION %s() FROM PUBLIC', fn);

    IF kind = 'p' THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION %s()',
                       entry.trigger_name, target, fn);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', target, entry.trigger_name);
        -- Row triggers are cloned onto partitions; make each clone ALWAYS too.
        FOR part IN SELECT p.relid FROM pg_catalog.pg_partition_tree(target) p WHERE p.relid OPERATOR(pg_catalog.<>) target LOOP
            IF EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgrelid = part AND t.tgname = entry.trigger_name) THEN
                EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', part, entry.trigger_name);
            END IF;
        END LOOP;
        PERFORM replicator.capture_partitions(entry.table_schema, entry.table_name);
    ELSE
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                       entry.trigger_name, target, fn);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                       entry.trigger_name || '_update', target, fn);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                       entry.trigger_name || '_delete', target, fn);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                       entry.trigger_name || '_truncate', target, fn);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', target, entry.trigger_name);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', target, entry.trigger_name || '_update');
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', target, entry.trigger_name || '_delete');
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', target, entry.trigger_name || '_truncate');
    END IF;
END
$install$;

-- A TRUNCATE trigger on every partition of a captured partitioned table (and
-- on partitions of partitions): statement triggers are not cloned, so one
-- created or attached later gets its own here. The replicator calls it when
-- it sees a partition without one.
CREATE FUNCTION replicator.capture_partitions(t_schema text, t_name text) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $cp$
DECLARE
    entry replicator.tables;
    part  regclass;
    added int := 0;
BEGIN
    SELECT * INTO entry FROM replicator.tables t
    WHERE t.table_schema = t_schema AND t.table_name = t_name AND t.removed_at IS NULL;
    IF NOT FOUND OR pg_catalog.to_regclass(format('%I.%I', t_schema, t_name)) IS DISTINCT FROM entry.relid::regclass THEN
        RETURN 0;
    END IF;
    FOR part IN SELECT p.relid FROM pg_catalog.pg_partition_tree(entry.relid::regclass) p
                WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                                  WHERE g.tgrelid = p.relid AND g.tgname = entry.trigger_name || '_truncate') LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()',
                       entry.trigger_name || '_truncate', part, entry.function_schema, entry.function_name);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', part, entry.trigger_name || '_truncate');
        added := added + 1;
    END LOOP;
    RETURN added;
END
$cp$;
REVOKE ALL ON FUNCTION replicator.capture_partitions(text, text) FROM PUBLIC;

-- What one login needs for one replicated table: read it (batches, initial
-- copy, verify), read and prune its change log, mark the demo's log processed.
CREATE FUNCTION replicator.grant_table(entry replicator.tables, role_name name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $gt$
BEGIN
    PERFORM replicator.grant_to('schema', format('%I', entry.table_schema), 'USAGE', role_name);
    PERFORM replicator.grant_to('table', format('%I.%I', entry.table_schema, entry.table_name), 'SELECT', role_name);
    PERFORM replicator.grant_to('schema', format('%I', entry.log_schema), 'USAGE', role_name);
    PERFORM replicator.grant_to('table', format('%I.%I', entry.log_schema, entry.log_name), 'SELECT', role_name);
    PERFORM replicator.grant_to('table', format('%I.%I', entry.log_schema, entry.log_name), 'DELETE', role_name);
    IF entry.mark_processed THEN
        PERFORM replicator.grant_to('column', format('%I.%I', entry.log_schema, entry.log_name), 'UPDATE (processed)', role_name);
    END IF;
END
$gt$;
REVOKE ALL ON FUNCTION replicator.grant_table(replicator.tables, name) FROM PUBLIC;

-- Gives a replicator login exactly what it needs on the primary, and
-- remembers it so tables added later are granted to it too.
CREATE FUNCTION replicator.grant_replicator(role_name name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $gr$
DECLARE
    entry replicator.tables;
BEGIN
    INSERT INTO replicator.logins VALUES (role_name) ON CONFLICT DO NOTHING;
    PERFORM replicator.grant_to('schema', 'replicator', 'USAGE', role_name);
    PERFORM replicator.grant_to('table', 'replicator.tables', 'SELECT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.schema_fingerprint', 'SELECT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.migrations', 'SELECT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.consumer', 'SELECT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.consumer', 'INSERT', role_name);
    PERFORM replicator.grant_to('table', 'replicator.consumer', 'UPDATE', role_name);
    PERFORM replicator.grant_to('sequence', 'replicator.wakeup', 'UPDATE', role_name);
    PERFORM replicator.grant_to('function', 'replicator.capture_partitions(text, text)', 'EXECUTE', role_name);
    PERFORM replicator.grant_to('function', 'replicator.request_copy(text, text)', 'EXECUTE', role_name);
    PERFORM replicator.grant_to('function', 'replicator.check_declared_key(regclass, text[])', 'EXECUTE', role_name);
    FOR entry IN SELECT * FROM replicator.tables t WHERE t.removed_at IS NULL LOOP
        CONTINUE WHEN pg_catalog.to_regclass(format('%I.%I', entry.table_schema, entry.table_name)) IS NULL;
        PERFORM replicator.grant_table(entry, role_name);
    END LOOP;
END
$gr$;
REVOKE ALL ON FUNCTION replicator.grant_replicator(name) FROM PUBLIC;

-- add_table puts a table in the replication set: its change log, its capture,
-- the grants for the replicator's logins, and a request for a full copy (the
-- replica's table is emptied and filled from the primary, even if the table
-- is empty: stale rows from an earlier life of the table must go). The log
-- and function names default to replicator.<table>_changes and
-- replicator.capture_<oid>; the demo passes its own. Idempotent.
CREATE FUNCTION replicator.add_table(
    target regclass,
    declared_key text[] DEFAULT NULL,
    log_name text DEFAULT NULL,          -- schema.name
    function_name text DEFAULT NULL,     -- schema.name
    trigger_name text DEFAULT 'replicator_capture',
    mark_processed boolean DEFAULT false
) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $add$
DECLARE
    t_schema  text;
    t_name    text;
    kind      "char";
    keys      text[];
    log_keys  text[];
    existing  replicator.tables;
    entry     replicator.tables;
    l_schema  text := 'replicator';
    l_name    text;
    f_schema  text := 'replicator';
    f_name    text;
    key_defs  text;
    login     name;
BEGIN
    SELECT n.nspname, c.relname, c.relkind INTO t_schema, t_name, kind
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '%.% is not a table', t_schema, t_name USING ERRCODE = 'P0001',
            HINT = 'only ordinary and partitioned tables can be replicated';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
               WHERE i.inhrelid = target AND p.relkind = 'p') THEN
        RAISE EXCEPTION '%.% is a partition', t_schema, t_name USING ERRCODE = 'P0001',
            HINT = 'add the partitioned table it belongs to: its partitions, present and future, are captured with it';
    END IF;

    SELECT * INTO existing FROM replicator.tables t WHERE t.table_schema = t_schema AND t.table_name = t_name;
    IF FOUND AND existing.removed_at IS NULL AND existing.relid = target THEN
        RETURN format('%I.%I', existing.log_schema, existing.log_name);
    END IF;
    IF FOUND THEN
        -- Removed earlier, or dropped and created again: start afresh.
        PERFORM replicator.remove_table(t_schema, t_name, true);
    END IF;

    IF declared_key IS NULL THEN
        SELECT array_agg(a.attname::text ORDER BY k.ord) INTO keys
        FROM pg_catalog.pg_index i
        CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = target AND i.indisprimary;
        IF keys IS NULL THEN
            RAISE EXCEPTION 'table %.% has no primary key', t_schema, t_name
                USING ERRCODE = 'P0001',
                      HINT = 'add one (ALTER TABLE ... ADD PRIMARY KEY (...)) or name a unique, not-null column set to use as the key (--key)';
        END IF;
    ELSE
        keys := declared_key;
        PERFORM replicator.check_declared_key(target, keys);
    END IF;
    IF EXISTS (SELECT FROM unnest(keys) k JOIN pg_catalog.pg_attribute a ON a.attrelid = target AND a.attname = k
               JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid WHERE ty.typcategory = 'A') THEN
        RAISE EXCEPTION 'key columns (%) of %.% include an array', array_to_string(keys, ', '), t_schema, t_name
            USING ERRCODE = 'P0001', HINT = 'name a key without array columns (--key)';
    END IF;
    SELECT array_agg(CASE WHEN k IN ('change_id', 'operation', 'relid', 'txid', 'change_timestamp', 'processed')
                          THEN 'key_' || k ELSE k END ORDER BY o) INTO log_keys
    FROM unnest(keys) WITH ORDINALITY AS u(k, o);

    IF log_name IS NULL THEN
        l_name := left(t_name, 48) || '_changes';
        IF pg_catalog.to_regclass(format('replicator.%I', l_name)) IS NOT NULL THEN
            l_name := left(t_name, 40) || '_' || target::oid || '_changes';
        END IF;
    ELSE
        l_schema := split_part(log_name, '.', 1);
        l_name := split_part(log_name, '.', 2);
    END IF;
    IF function_name IS NULL THEN
        f_name := 'capture_' || target::oid;
    ELSE
        f_schema := split_part(function_name, '.', 1);
        f_name := split_part(function_name, '.', 2);
    END IF;

    -- The log: which key changed, how, in which transaction. No index but the
    -- one on txid, which is how a batch reads it (a range of transaction ids).
    SELECT string_agg(format('%I %s%s NOT NULL', lk,
                             pg_catalog.format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation
                                  THEN format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END), ', ' ORDER BY u.o)
      INTO key_defs
    FROM unnest(keys, log_keys) WITH ORDINALITY AS u(k, lk, o)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = target AND a.attname = u.k
    JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
    LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
    LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace;
    -- Key columns are NULL in a TRUNCATE's entry.
    key_defs := replace(key_defs, ' NOT NULL', '');
    EXECUTE format($log$
        CREATE TABLE %1$I.%2$I (
            change_id        bigint GENERATED ALWAYS AS IDENTITY (CACHE 100), -- order is not needed: each backend takes 100 at a time
            operation        text NOT NULL,   -- INSERT, UPDATE, DELETE or TRUNCATE
            %3$s,
            relid            oid,             -- TRUNCATE: the table or partition truncated
            txid             xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
            change_timestamp timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()%4$s
        )$log$, l_schema, l_name, key_defs,
        CASE WHEN mark_processed THEN ',
            processed        boolean NOT NULL DEFAULT false' ELSE '' END);
    EXECUTE format('CREATE INDEX %I ON %I.%I (txid)', left(l_name, 58) || '_txid', l_schema, l_name);

    INSERT INTO replicator.tables (table_schema, table_name, relid, log_schema, log_name, function_schema, function_name,
                                   trigger_name, key_columns, log_key_columns, declared_key, mark_processed, capture_version)
    VALUES (t_schema, t_name, target, l_schema, l_name, f_schema, f_name, trigger_name, keys, log_keys,
            declared_key IS NOT NULL, mark_processed, 1)
    RETURNING * INTO entry;
    PERFORM replicator.install_capture(entry);
    FOR login IN SELECT l.role_name FROM replicator.logins l LOOP
        PERFORM replicator.grant_table(entry, login);
    END LOOP;
    RETURN format('%I.%I', l_schema, l_name);
END
$add$;
REVOKE ALL ON FUNCTION replicator.add_table(regclass, text[], text, text, text, boolean) FROM PUBLIC;

-- A declared key must be NOT NULL columns with a unique index on exactly them.
CREATE FUNCTION replicator.check_declared_key(target regclass, keys text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $ck$
BEGIN
    IF EXISTS (SELECT FROM unnest(keys) k(col) WHERE NOT EXISTS (
            SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = target AND a.attname = k.col AND a.attnum > 0
            AND NOT a.attisdropped AND a.attnotnull)) THEN
        RAISE EXCEPTION 'key columns (%) of % must exist and be NOT NULL', array_to_string(keys, ', '), target
            USING ERRCODE = 'P0001', HINT = 'ALTER TABLE ... ALTER COLUMN ... SET NOT NULL, or name other columns';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = target AND i.indisunique AND i.indpred IS NULL
            AND i.indexprs IS NULL
            AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = target AND a.attnum = ANY (i.indkey::int2[]))
                = (SELECT array_agg(k ORDER BY k) FROM unnest(keys) k)) THEN
        RAISE EXCEPTION 'key columns (%) of % have no unique index', array_to_string(keys, ', '), target
            USING ERRCODE = 'P0001', HINT = 'CREATE UNIQUE INDEX ON ... (' || array_to_string(keys, ', ') || ')';
    END IF;
END
$ck$;
REVOKE ALL ON FUNCTION replicator.check_declared_key(regclass, text[]) FROM PUBLIC;

-- remove_table undoes add_table: the triggers (on partitions too), the capture
-- function, the change log with its pending changes. The registry entry stays,
-- marked removed (so TABLES does not add the table back), unless `purge`.
CREATE FUNCTION replicator.remove_table(t_schema text, t_name text, purge boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $remove$
DECLARE
    entry  replicator.tables;
    target regclass;
    part   regclass;
BEGIN
    SELECT * INTO entry FROM replicator.tables t WHERE t.table_schema = t_schema AND t.table_name = t_name;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    target := pg_catalog.to_regclass(format('%I.%I', t_schema, t_name));
    IF target IS NOT NULL AND target = entry.relid::regclass THEN
        FOR part IN SELECT p.relid FROM pg_catalog.pg_partition_tree(target) p LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', entry.trigger_name || '_truncate', part);
        END LOOP;
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', entry.trigger_name, target);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', entry.trigger_name || '_truncate', target);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', entry.trigger_name || '_update', target);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', entry.trigger_name || '_delete', target);
    END IF;
    EXECUTE format('DROP FUNCTION IF EXISTS %I.%I()', entry.function_schema, entry.function_name);
    EXECUTE format('DROP TABLE IF EXISTS %I.%I', entry.log_schema, entry.log_name);
    PERFORM replicator.revoke_grants(kind => 'table', object => format('%I.%I', entry.log_schema, entry.log_name));
    PERFORM replicator.revoke_grants(kind => 'column', object => format('%I.%I', entry.log_schema, entry.log_name));
    IF target IS NOT NULL THEN
        PERFORM replicator.revoke_grants(kind => 'table', object => format('%I.%I', t_schema, t_name));
    ELSE
        DELETE FROM replicator.grants g WHERE g.object_kind = 'table' AND g.object_name = format('%I.%I', t_schema, t_name);
    END IF;
    IF purge THEN
        DELETE FROM replicator.tables t WHERE t.table_schema = t_schema AND t.table_name = t_name;
    ELSE
        UPDATE replicator.tables t SET removed_at = pg_catalog.now()
        WHERE t.table_schema = t_schema AND t.table_name = t_name;
    END IF;
    RETURN entry.removed_at IS NULL;
END
$remove$;
REVOKE ALL ON FUNCTION replicator.remove_table(text, text, boolean) FROM PUBLIC;

-- Asks the replicator for a full copy of the table; recreates its capture
-- (log included) when the table was dropped and created again, its key
-- changed, or its triggers were dropped. Returns the request time.
CREATE FUNCTION replicator.resync_table(t_schema text, t_name text) RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $rs$
DECLARE
    entry  replicator.tables;
    target regclass := pg_catalog.to_regclass(format('%I.%I', t_schema, t_name));
    keys   text[];
    at     timestamptz;
BEGIN
    SELECT * INTO entry FROM replicator.tables t
    WHERE t.table_schema = t_schema AND t.table_name = t_name AND t.removed_at IS NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NOT entry.declared_key THEN
        SELECT array_agg(a.attname::text ORDER BY k.ord) INTO keys
        FROM pg_catalog.pg_index i
        CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = target AND i.indisprimary;
    END IF;
    IF target IS DISTINCT FROM entry.relid::regclass OR (NOT entry.declared_key AND keys IS DISTINCT FROM entry.key_columns)
       OR NOT replicator.capture_intact(entry) THEN
        PERFORM replicator.remove_table(t_schema, t_name, true);
        PERFORM replicator.add_table(target, CASE WHEN entry.declared_key THEN entry.key_columns END,
                                     format('%s.%s', entry.log_schema, entry.log_name),
                                     CASE WHEN entry.function_name LIKE 'capture\_%' AND entry.function_schema = 'replicator'
                                          THEN NULL ELSE format('%s.%s', entry.function_schema, entry.function_name) END,
                                     entry.trigger_name, entry.mark_processed);
        SELECT t.copy_requested_at INTO at FROM replicator.tables t WHERE t.table_schema = t_schema AND t.table_name = t_name;
        RETURN at;
    END IF;
    UPDATE replicator.tables t SET copy_requested_at = pg_catalog.clock_timestamp()
    WHERE t.table_schema = t_schema AND t.table_name = t_name
    RETURNING t.copy_requested_at INTO at;
    RETURN at;
END
$rs$;
REVOKE ALL ON FUNCTION replicator.resync_table(text, text) FROM PUBLIC;

-- Asks for a full copy of a table without touching its capture: what the
-- replicator itself may do (its logins are granted this function, not the
-- registry) when a column's existing values or a truncated hash partition's
-- rows cannot be reproduced on the replica otherwise.
CREATE FUNCTION replicator.request_copy(t_schema text, t_name text) RETURNS timestamptz
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $rc$
    UPDATE replicator.tables t SET copy_requested_at = pg_catalog.clock_timestamp()
    WHERE t.table_schema = t_schema AND t.table_name = t_name AND t.removed_at IS NULL
    RETURNING t.copy_requested_at
$rc$;
REVOKE ALL ON FUNCTION replicator.request_copy(text, text) FROM PUBLIC;

-- Whether a table's capture is in place: its triggers exist and fire always.
CREATE FUNCTION replicator.capture_intact(entry replicator.tables) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $ci$
    SELECT pg_catalog.to_regclass(format('%I.%I', entry.table_schema, entry.table_name)) = entry.relid::regclass
       AND (SELECT count(*) FROM pg_catalog.pg_trigger g
            WHERE g.tgrelid = entry.relid AND g.tgenabled = 'A'
              AND g.tgname = ANY (CASE WHEN c.relkind = 'p'
                                       THEN ARRAY[entry.trigger_name, entry.trigger_name || '_truncate']
                                       ELSE ARRAY[entry.trigger_name, entry.trigger_name || '_update',
                                                  entry.trigger_name || '_delete', entry.trigger_name || '_truncate'] END))
           = CASE WHEN c.relkind = 'p' THEN 2 ELSE 4 END
    FROM pg_catalog.pg_class c WHERE c.oid = entry.relid
$ci$;

-- Removes every trace of the capture on the primary's own tables: triggers,
-- capture functions, change logs, grants. Dropping schema replicator is left
-- to the caller, in the same transaction.
CREATE FUNCTION replicator.uninstall() RETURNS SETOF text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $un$
DECLARE
    entry replicator.tables;
BEGIN
    FOR entry IN SELECT * FROM replicator.tables LOOP
        IF replicator.remove_table(entry.table_schema, entry.table_name, true) OR entry.removed_at IS NOT NULL THEN
            RETURN NEXT format('capture of %I.%I (change log %I.%I)', entry.table_schema, entry.table_name,
                               entry.log_schema, entry.log_name);
        END IF;
    END LOOP;
    IF replicator.revoke_grants() > 0 THEN
        RETURN NEXT 'grants to the replicator''s logins';
    END IF;
END
$un$;
REVOKE ALL ON FUNCTION replicator.uninstall() FROM PUBLIC;

-- The fingerprint of everything a batch depends on: the replication set, each
-- table's identity, columns, key, capture triggers and partitions. A batch
-- reads it in its own snapshot; when it differs from the one the replicator
-- prepared with, the batch is not applied and both catalogs are read again.
-- Nothing in it depends on session settings (timestamps as epochs).
CREATE VIEW replicator.schema_fingerprint AS
SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(pg_catalog.concat_ws('|',
           t.table_schema, t.table_name, t.relid, t.log_schema, t.log_name, t.key_columns::text, t.capture_version,
           pg_catalog.date_part('epoch', t.copy_requested_at), pg_catalog.date_part('epoch', t.removed_at),
           pg_catalog.to_regclass(format('%I.%I', t.table_schema, t.table_name))::oid,
           (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(' ', a.attnum, a.attname, a.atttypid, a.atttypmod,
                                                              a.attnotnull, a.attgenerated, a.attcollation), ','
                                         ORDER BY a.attnum)
            FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped),
           (SELECT pg_catalog.string_agg(i.indexrelid::text || ':' || i.indkey::text || ':' || i.indisprimary, ','
                                         ORDER BY i.indexrelid)
            FROM pg_catalog.pg_index i WHERE i.indrelid = t.relid AND i.indisunique),
           (SELECT pg_catalog.string_agg(g.tgname || g.tgenabled::text, ',' ORDER BY g.tgname)
            FROM pg_catalog.pg_trigger g WHERE g.tgrelid = t.relid AND NOT g.tgisinternal),
           (SELECT pg_catalog.string_agg(p.relid::text || ':' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger g
                                                                 WHERE g.tgrelid = p.relid AND g.tgenabled = 'A'), ','
                                         ORDER BY p.relid)
            FROM pg_catalog.pg_partition_tree(t.relid) p
            WHERE EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.relid AND c.relkind = 'p'))),
       ';' ORDER BY t.table_schema, t.table_name), '')) AS fingerprint
FROM replicator.tables t;
$m002$;
        INSERT INTO replicator.migrations (version, name) VALUES (2, 'capture');
    END IF;
    IF NOT EXISTS (SELECT FROM replicator.migrations m WHERE m.version = 4) THEN
        EXECUTE $m004$
-- pg-replicator migration 4 (primary): a TRUNCATE that names a partition
-- reaches logical mode's stream.
--
-- With publish_via_partition_root, pgoutput sends a partition's rows as its
-- root's, but drops a TRUNCATE of a partition (it sends only truncates of the
-- root). So the TRUNCATE trigger on every partition of a captured partitioned
-- table (capture_partitions, unchanged in what it covers) now runs one shared
-- function that logs the TRUNCATE in the table's change log as before (what
-- trigger mode reads) and, while logical mode is in use (publication
-- pg_replicator exists), also writes a transactional logical message
-- 'pg-replicator-truncate' = '<table oid> <partition oid> <change id>' at the
-- TRUNCATE's place in the transaction. Anyone may call
-- pg_logical_emit_message, so the replicator trusts a message only when the
-- change log holds its change id as a TRUNCATE of that partition by the same
-- transaction (only this SECURITY DEFINER function and the owner write the
-- logs), and takes the rows to clear from the catalog, never from the message.
--
-- Nothing here may make the application's TRUNCATE fail: if the log or the
-- message cannot be written, the table is asked for a full copy instead (and
-- if even that fails, a warning is all that happens).

CREATE FUNCTION replicator.capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $ct$
DECLARE
    entry replicator.tables;
    id    bigint;
BEGIN
    SELECT * INTO entry FROM replicator.tables t
    WHERE t.relid OPERATOR(pg_catalog.=) TG_ARGV[0]::pg_catalog.oid AND t.removed_at IS NULL;
    -- A partition detached since keeps its trigger: its TRUNCATE is no longer the table's.
    IF NOT FOUND OR NOT EXISTS (SELECT FROM pg_catalog.pg_partition_tree(entry.relid::pg_catalog.regclass) p
                                WHERE p.relid OPERATOR(pg_catalog.=) TG_RELID) THEN
        RETURN NULL;
    END IF;
    BEGIN
        EXECUTE pg_catalog.format('INSERT INTO %I.%I (operation, relid) VALUES (''TRUNCATE'', $1) RETURNING change_id',
                                  entry.log_schema, entry.log_name)
           INTO id USING TG_RELID;
        IF TG_RELID OPERATOR(pg_catalog.<>) entry.relid
           AND EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname OPERATOR(pg_catalog.=) 'pg_replicator') THEN
            PERFORM pg_catalog.pg_logical_emit_message(true, 'pg-replicator-truncate',
                                                       pg_catalog.concat_ws(' ', entry.relid, TG_RELID::pg_catalog.oid, id));
        END IF;
    EXCEPTION WHEN OTHERS THEN
        BEGIN
            UPDATE replicator.tables t SET copy_requested_at = pg_catalog.clock_timestamp()
            WHERE t.relid OPERATOR(pg_catalog.=) entry.relid AND t.removed_at IS NULL;
            RAISE WARNING 'pg-replicator: the TRUNCATE of % was not captured (%); %.% will be copied afresh',
                TG_RELID::pg_catalog.regclass, SQLERRM, entry.table_schema, entry.table_name;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg-replicator: the TRUNCATE of % was not captured (%): run `replicator resync %.%`',
                TG_RELID::pg_catalog.regclass, SQLERRM, entry.table_schema, entry.table_name;
        END;
    END;
    RETURN NULL;
END
$ct$;
REVOKE ALL ON FUNCTION replicator.capture_truncate() FROM PUBLIC;

-- As in migration 2 (a TRUNCATE trigger on the table and on every partition,
-- at every level, added where missing), now running capture_truncate.
CREATE OR REPLACE FUNCTION replicator.capture_partitions(t_schema text, t_name text) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $cp$
DECLARE
    entry replicator.tables;
    part  regclass;
    added int := 0;
BEGIN
    SELECT * INTO entry FROM replicator.tables t
    WHERE t.table_schema = t_schema AND t.table_name = t_name AND t.removed_at IS NULL;
    IF NOT FOUND OR pg_catalog.to_regclass(format('%I.%I', t_schema, t_name)) IS DISTINCT FROM entry.relid::regclass THEN
        RETURN 0;
    END IF;
    FOR part IN SELECT p.relid FROM pg_catalog.pg_partition_tree(entry.relid::regclass) p
                WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                                  WHERE g.tgrelid = p.relid AND g.tgname = entry.trigger_name || '_truncate') LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION replicator.capture_truncate(%L)',
                       entry.trigger_name || '_truncate', part, entry.relid::text);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', part, entry.trigger_name || '_truncate');
        added := added + 1;
    END LOOP;
    RETURN added;
END
$cp$;
REVOKE ALL ON FUNCTION replicator.capture_partitions(text, text) FROM PUBLIC;

-- Partitioned tables already captured: their TRUNCATE triggers run the new function.
DO $moved$
DECLARE
    entry replicator.tables;
    part  regclass;
BEGIN
    FOR entry IN SELECT t.* FROM replicator.tables t JOIN pg_catalog.pg_class c ON c.oid = t.relid
                 WHERE t.removed_at IS NULL AND c.relkind = 'p'
                   AND pg_catalog.to_regclass(format('%I.%I', t.table_schema, t.table_name)) = t.relid::regclass LOOP
        FOR part IN SELECT p.relid FROM pg_catalog.pg_partition_tree(entry.relid::regclass) p LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', entry.trigger_name || '_truncate', part);
        END LOOP;
        PERFORM replicator.capture_partitions(entry.table_schema, entry.table_name);
    END LOOP;
END
$moved$;
$m004$;
        INSERT INTO replicator.migrations (version, name) VALUES (4, 'partition_truncates');
    END IF;
END
$migrations$;

-- The demo.
CREATE TABLE IF NOT EXISTS public.users (
    user_id    bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION public.update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.updated_at = pg_catalog.now();
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER update_users_updated_at
    BEFORE UPDATE ON public.users
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

-- The demo's table goes through the same capture as any other table, with the
-- demo's names: change log public.user_changes (with a processed column the
-- replicator keeps up to date), function public.track_user_changes(), and
-- triggers users_change_trigger, _update, _delete and _truncate.
SELECT replicator.add_table('public.users'::regclass,
                            log_name       => 'public.user_changes',
                            function_name  => 'public.track_user_changes',
                            trigger_name   => 'users_change_trigger',
                            mark_processed => true);

-- PART 2: replica database ------------------------------------------------------

-- The replicator's own objects (schema replicator), as `replicator init replica` installs them.
CREATE SCHEMA IF NOT EXISTS replicator;
CREATE TABLE IF NOT EXISTS replicator.migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
DO $migrations$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    PERFORM pg_catalog.pg_advisory_xact_lock(7301449012101);
    IF pg_catalog.to_regclass('replicator.tables') IS NOT NULL
       AND NOT EXISTS (SELECT FROM replicator.migrations m WHERE m.version = 1) THEN
        RAISE EXCEPTION 'schema replicator holds a pre-release install of pg-replicator'
            USING HINT = 'remove it with `replicator uninstall`, then run this part again';
    END IF;
    IF NOT EXISTS (SELECT FROM replicator.migrations m WHERE m.version = 1) THEN
        EXECUTE $m001$
-- pg-replicator migration 1 (both sides): the logins the replicator runs as,
-- a record of every grant it makes (so uninstall revokes exactly those), and
-- how a key column is compared.
-- Every function pins search_path = pg_catalog, pg_temp and qualifies what
-- it names; EXECUTE is revoked from PUBLIC.

-- The logins the replicator runs as (granted by grant_replicator): tables
-- added later are granted to these roles, and to no other.
CREATE TABLE replicator.logins (
    role_name name PRIMARY KEY
);

-- Every grant the replicator made, so uninstall revokes exactly those and
-- leaves a DBA's own grants alone.
CREATE TABLE replicator.grants (
    object_kind text NOT NULL,   -- 'table' | 'schema' | 'column' | 'sequence' | 'function' | 'parameter'
    object_name text NOT NULL,   -- as SQL: a quoted, qualified name (table, schema) or signature (function)
    privilege   text NOT NULL,   -- as SQL: 'SELECT', 'UPDATE (processed)', 'USAGE', ...
    role_name   name NOT NULL,
    PRIMARY KEY (object_kind, object_name, privilege, role_name)
);

-- The keyword GRANT and REVOKE use for a kind of object.
CREATE FUNCTION replicator.object_keyword(kind text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE kind WHEN 'column' THEN 'TABLE' ELSE upper(kind) END
$$;

-- Records a grant the replicator makes and makes it, unless the role already
-- holds that privilege through a grant of its own (then uninstall leaves it).
CREATE FUNCTION replicator.grant_to(kind text, object text, privilege text, role_name name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $g$
DECLARE
    held boolean;
BEGIN
    IF EXISTS (SELECT FROM replicator.grants g WHERE g.object_kind = kind AND g.object_name = object
               AND g.privilege = grant_to.privilege AND g.role_name = grant_to.role_name) THEN
        EXECUTE format('GRANT %s ON %s %s TO %I', privilege, replicator.object_keyword(kind), object, role_name);
        RETURN;
    END IF;
    held := CASE kind
        WHEN 'table'    THEN pg_catalog.has_table_privilege(role_name, object, privilege)
        WHEN 'column'   THEN false
        WHEN 'schema'   THEN pg_catalog.has_schema_privilege(role_name, (pg_catalog.parse_ident(object))[1], privilege)
        WHEN 'sequence' THEN pg_catalog.has_sequence_privilege(role_name, object, privilege)
        WHEN 'function' THEN pg_catalog.has_function_privilege(role_name, object, privilege)
        ELSE false  -- 'parameter' (PostgreSQL 15+): granted and recorded
    END;
    IF held THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('GRANT %s ON %s %s TO %I', privilege, replicator.object_keyword(kind), object, role_name);
    EXCEPTION WHEN insufficient_privilege OR syntax_error THEN
        -- GRANT SET ON PARAMETER needs a superuser and PostgreSQL 15: without it the replicator runs and warns.
        IF kind <> 'parameter' THEN RAISE; END IF;
        RAISE WARNING 'could not grant % on parameter % to % (%): replica triggers and foreign keys will fire during apply',
            privilege, object, role_name, SQLERRM;
        RETURN;
    END;
    INSERT INTO replicator.grants VALUES (kind, object, privilege, role_name);
END
$g$;
REVOKE ALL ON FUNCTION replicator.grant_to(text, text, text, name) FROM PUBLIC;

-- Revokes the grants the replicator made on one object (or all of them).
CREATE FUNCTION replicator.revoke_grants(kind text DEFAULT NULL, object text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $rv$
DECLARE
    g replicator.grants;
    n int := 0;
BEGIN
    FOR g IN SELECT * FROM replicator.grants r
             WHERE (kind IS NULL OR r.object_kind = kind) AND (object IS NULL OR r.object_name = object) LOOP
        BEGIN
            EXECUTE format('REVOKE %s ON %s %s FROM %I', g.privilege, replicator.object_keyword(g.object_kind),
                           g.object_name, g.role_name);
        EXCEPTION WHEN undefined_table OR undefined_object OR undefined_function OR invalid_schema_name THEN
            NULL; -- the object is gone, and its grants with it
        END;
        DELETE FROM replicator.grants r WHERE r = g;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$rv$;
REVOKE ALL ON FUNCTION replicator.revoke_grants(text, text) FROM PUBLIC;


-- The operator a key column is compared with, schema-qualified for
-- OPERATOR(...): the one of the operator class its unique index uses (btree
-- strategy 1 <, 2 <=, 3 =, 4 >=, 5 >), so a key of an extension type (ltree,
-- citext, isbn13) compares correctly under the pinned search_path.
CREATE FUNCTION replicator.key_operator(rel oid, col text, strategy int) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('%I.%s', n.nspname, o.oprname)
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisunique AND a.attnum = ANY (i.indkey::int2[])
    -- indkey and indclass both start at 0
    JOIN pg_catalog.pg_opclass c ON c.oid = (i.indclass::oid[])[array_position(i.indkey::int2[], a.attnum)]
    JOIN pg_catalog.pg_amop ao ON ao.amopfamily = c.opcfamily AND ao.amopstrategy = strategy
         AND ao.amoplefttype = c.opcintype AND ao.amoprighttype = c.opcintype
    JOIN pg_catalog.pg_operator o ON o.oid = ao.amopopr
    JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
    WHERE a.attrelid = rel AND a.attname = col
    ORDER BY i.indisprimary DESC
    LIMIT 1
$$;

CREATE FUNCTION replicator.key_equality(rel oid, col text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT replicator.key_operator(rel, col, 3)
$$;
$m001$;
        INSERT INTO replicator.migrations (version, name) VALUES (1, 'grants');
    END IF;
    IF NOT EXISTS (SELECT FROM replicator.migrations m WHERE m.version = 3) THEN
        EXECUTE $m003$
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
$m003$;
        INSERT INTO replicator.migrations (version, name) VALUES (3, 'position');
    END IF;
END
$migrations$;

-- The demo.
-- Same columns, no triggers: rows arrive only from the replicator, with the
-- primary's values (including updated_at and user_id).
CREATE TABLE IF NOT EXISTS public.users (
    user_id    bigint PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
-- The replicator's logins (replicator privileges) may write it.
SELECT replicator.grant_table('public', 'users', l.role_name) FROM replicator.logins l;

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

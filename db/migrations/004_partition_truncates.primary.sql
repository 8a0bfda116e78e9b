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

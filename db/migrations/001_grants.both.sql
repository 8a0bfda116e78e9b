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

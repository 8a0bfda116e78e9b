/**
 * The bystander: a login with no rights on any replicated table, allowed to
 * create objects in schema public, which plants exact-type overloads of
 * polymorphic built-ins there (an exact match beats pg_catalog's anyarray or
 * anyelement version for any session whose search_path reaches public). Each
 * trap still returns the right answer, so nothing else breaks, but writes a
 * row to bystander.traps that every role may insert into: any row there is a
 * query that ran the bystander's code.
 */
import pg from 'pg';

export const BYSTANDER = 'bystander';

const TRAPS = `
CREATE SCHEMA bystander;
CREATE TABLE bystander.traps (what text, by_role text DEFAULT current_user, query text DEFAULT current_query());
GRANT USAGE ON SCHEMA bystander TO PUBLIC;
GRANT INSERT ON bystander.traps TO PUBLIC;
CREATE FUNCTION bystander.sprung(what text) RETURNS void LANGUAGE sql
  SET search_path = pg_catalog AS $$ INSERT INTO bystander.traps (what) VALUES (what) $$;
GRANT EXECUTE ON FUNCTION bystander.sprung(text) TO PUBLIC;
CREATE FUNCTION bystander.append(a integer[], v integer) RETURNS integer[] LANGUAGE sql
  SET search_path = pg_catalog AS $$ SELECT bystander.sprung('array_agg(integer)'); SELECT pg_catalog.array_append(a, v) $$;
CREATE FUNCTION bystander.int_arrays_equal(a integer[], b integer[]) RETURNS boolean LANGUAGE sql
  SET search_path = pg_catalog AS $$ SELECT bystander.sprung('=(integer[], integer[])'); SELECT a OPERATOR(pg_catalog.=) b $$;
`;

const PLANTED = `
SET search_path = pg_catalog;
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS
  $$ SELECT bystander.sprung('unnest(text[])'); SELECT pg_catalog.unnest($1) $$;
CREATE FUNCTION public.unnest(integer[]) RETURNS SETOF integer LANGUAGE sql AS
  $$ SELECT bystander.sprung('unnest(integer[])'); SELECT pg_catalog.unnest($1) $$;
CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE sql AS
  $$ SELECT bystander.sprung('unnest(bigint[])'); SELECT pg_catalog.unnest($1) $$;
CREATE FUNCTION public.array_length(integer[], integer) RETURNS integer LANGUAGE sql AS
  $$ SELECT bystander.sprung('array_length(integer[], integer)'); SELECT pg_catalog.array_length($1, $2) $$;
CREATE FUNCTION public.to_jsonb(text) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT bystander.sprung('to_jsonb(text)'); SELECT pg_catalog.to_jsonb($1) $$;
CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE sql AS
  $$ SELECT bystander.sprung('format(text, text)'); SELECT pg_catalog.format($1, $2) $$;
CREATE FUNCTION public.json_populate_recordset(anyelement, text) RETURNS SETOF anyelement LANGUAGE sql AS
  $$ SELECT bystander.sprung('json_populate_recordset(anyelement, text)'); SELECT * FROM pg_catalog.json_populate_recordset($1, $2::json) $$;
CREATE AGGREGATE public.array_agg(integer) (SFUNC = bystander.append, STYPE = integer[]);
CREATE OPERATOR public.= (LEFTARG = integer[], RIGHTARG = integer[], FUNCTION = bystander.int_arrays_equal);
`;

/** Creates the bystander on a server (through `owner`, a superuser client) and plants the traps as the bystander itself. */
export async function plantTraps(owner: pg.Client, url: string, password: string): Promise<void> {
  await owner.query(`CREATE ROLE ${BYSTANDER} LOGIN PASSWORD '${password}';
    GRANT CREATE ON SCHEMA public TO ${BYSTANDER};
    ${TRAPS}
    ALTER SCHEMA bystander OWNER TO ${BYSTANDER};
    ALTER FUNCTION bystander.append(integer[], integer) OWNER TO ${BYSTANDER};
    ALTER FUNCTION bystander.int_arrays_equal(integer[], integer[]) OWNER TO ${BYSTANDER};`);
  const bystander = new pg.Client(url.replace('://postgres:', `://${BYSTANDER}:`));
  await bystander.connect();
  try {
    await bystander.query(PLANTED);
  } finally {
    await bystander.end();
  }
}

/** What the traps recorded (nothing, unless some query ran the bystander's code). */
export async function trapsFired(owner: pg.Client): Promise<string[]> {
  try {
    const { rows } = await owner.query<{ what: string; by_role: string; query: string }>(
      'SELECT what, by_role, query FROM bystander.traps',
    );
    return rows.map((r) => `${r.what} ran as ${r.by_role} in: ${r.query.slice(0, 300)}`);
  } catch {
    return []; // the server is gone (a test stopped it for good); nothing to read
  }
}

/**
 * The generator families of the randomized test: each one a kind of thing a
 * real application does to a replicated database, with the tables it needs
 * (created on the primary, and on the replica the way a DBA would, since
 * `replicator add` cannot create types, unique constraints or partitions),
 * the rows it may start with (family `copy`), and the random operations its
 * writers run inside random transactions. RANDOM_FEATURES switches families
 * on and off by name. Expected of the replica in every family: at the end,
 * every replicated table's `row::text` equals the primary's, row for row.
 */
import type { Rng } from './prng.js';

export type Query = (text: string, values?: unknown[]) => Promise<Array<Record<string, unknown>>>;

export interface OpContext {
  rng: Rng;
  shared: Shared;
  q: Query;
  enabled: ReadonlySet<string>;
}

export type Op = (ctx: OpContext) => Promise<void>;

export interface Family {
  name: string;
  /** What it exercises (printed with --help-like diagnostics and in the README of the test). */
  about: string;
  /** Tables compared at the end (and added to the replication set). */
  tables: string[];
  /** Setup on the primary. */
  primary?: string;
  /** Setup on the replica, as a DBA would do it; without it `replicator add` creates the replica's tables. */
  replica?: string;
  /** Rows written before the tables are added (only when family `copy` is on: they travel by initial copy). */
  seed?: string;
  /** Writer operations, by weight. */
  ops?: Array<readonly [number, Op]>;
  /** How often its operations are picked, relative to the others (default 1). */
  weight?: number;
  /** Families it needs. */
  requires?: string[];
}

/** State the writers and the schedule share: id counters, the partitions that exist, t_ddl's columns. */
export class Shared {
  private readonly counters = new Map<string, number>();
  /** Regions of t_part that have a partition on the primary. */
  regions = [0, 1, 2];
  nextRegion = 3;
  /** Columns t_ddl has on the primary beyond id: name → type (int, bigint or text). */
  readonly ddlColumns = new Map<string, string>([
    ['n', 'int'],
    ['s', 'text'],
  ]);
  nextDdlColumn = 1;

  /** A fresh id for `table` (n consecutive ones: the first). */
  id(table: string, n = 1): number {
    const next = this.counters.get(table) ?? 1_000;
    this.counters.set(table, next + n);
    return next;
  }
}

// ---------------------------------------------------------------------------
// Value pools: the awkward values each type has.

const TEXTS = [
  '',
  ' ',
  'a\\b',
  "it's",
  '"quoted"',
  'line\nbreak',
  'tab\there',
  '\\N',
  'NULL',
  'null',
  'emoji 😀',
  'ünïcödé ß',
  '\u2028sep',
  '{}',
  '[1,2]',
  'x'.repeat(3000),
];
const FLOAT8 = [
  '0',
  '-0',
  'NaN',
  'Infinity',
  '-Infinity',
  '5e-324',
  '1.7976931348623157e308',
  '0.1',
  '0.30000000000000004',
  '-1e-310',
];
const FLOAT4 = ['0', '-0', 'NaN', 'Infinity', '-Infinity', '1e-45', '3.4028235e38', '0.1', '1.17549435e-38'];
const NUMERIC = [
  'NaN',
  'Infinity',
  '-Infinity',
  '0',
  '-0.000',
  '1.0',
  '1.00',
  '1e-20',
  '123456789012345678901234567890.000000000000001',
  '-1.5',
];
const TIMESTAMPTZ = [
  'infinity',
  '-infinity',
  '2024-02-29 23:59:59.999999+00',
  '1999-12-31 19:00:00.000001-05',
  '0044-03-15 12:00:00+00 BC',
  '2000-01-01 00:00:00+14',
  'epoch',
  '2025-03-30 01:30:00+01',
];
const TIMESTAMP = ['infinity', '2024-02-29 23:59:59.999999', '0001-01-01 00:00:00 BC', '294276-12-31 23:59:59.999999'];
const INTERVALS = [
  '0',
  '1 year 2 mons -3 days 04:05:06.789',
  '-178000000 years',
  'P1Y2M3DT4H5M6.7S',
  '1 day -00:00:00.000001',
  'infinity',
];
const DATES = ['infinity', '-infinity', '2024-02-29', '4713-01-01 BC', '5874897-12-31'];
const TIMES = ['00:00', '23:59:59.999999', '24:00:00'];
const TIMETZ = ['00:00+00', '23:59:59.999999-15:59', '12:00+05:30'];
const INETS = ['127.0.0.1', '::1', '10.1.2.3/8', '2001:db8::/32', '::ffff:1.2.3.4'];
const BYTEAS = ['\\x', '\\x00', '\\x00ff7f80', 'hello', '\\x5c30'];
const BIGINTS = ['9223372036854775807', '-9223372036854775808', '9007199254740993', '0'];
const RANGES = ['empty', '[2024-01-01,2024-02-01)', '(,)', '[2024-01-01 00:00:00.000001+00,infinity]'];
const TSVECTORS = ["'a' 'b'", 'the quick brown fox', 'a:1A b:2B,3'];
const POINTS = ['(0,0)', '(-0,1.5)', '(1e300,-1e-300)', '(NaN,Infinity)'];
const XMLS = ['<a>x</a>', '<?xml version="1.0"?><r a="1"/>', 'text only', '<a><![CDATA[<b>]]></a>'];
const MOODS = ['sad', 'ok', 'very happy', 'it\'s "fine"'];
const JSONS = [
  'null',
  '{"a": null}',
  '[null, 1]',
  '"null"',
  '{"b":1,"a":2,"b":3}',
  '  { "x" :  [1 , 2.50 ] }  ',
  '1.0',
  '-0',
  '1e400',
  '"\\u00e9\\n"',
  '{"nested":{"deep":[{"k":"v"},[]]}}',
  '""',
  'true',
  '[]',
  '{}',
  '12345678901234567890.123',
];
const INT_ARRAYS = [
  '{}',
  '{NULL}',
  '{1,NULL,3}',
  '[0:2]={1,2,3}',
  '[-3:-2]={7,8}',
  '{{1,2},{3,4}}',
  '[1:1][0:1]={{5,6}}',
  '[5:5]={42}',
];
const TEXT_ARRAYS = ['{}', '{"a,b","NULL",NULL,"\\"q\\"","",x}', '[2:3]={a,b}', '{"  spaced  "}', '{{a,b},{c,d}}', '{"\\\\"}'];
const NUMERIC_ARRAYS = ['{1.0,1.00,NaN}', '[0:0]={-0.0}', '{Infinity,-Infinity}'];
/** Text keys that sort and compare differently under different collations. */
const COLLATION_KEYS = [
  'a',
  'A',
  'á',
  'a\u0301',
  'à',
  'ä',
  'ae',
  'æ',
  'Æ',
  'ß',
  'ss',
  'SS',
  'ẞ',
  'i',
  'I',
  'ı',
  'İ',
  'z',
  'Z',
  'ž',
  'ñ',
  'n\u0303',
  ' a',
  'a ',
  '',
  '😀',
  'Ω',
  'ω',
  'ǅ',
  'ﬁ',
  'fi',
  'a-b',
  'ab',
  'a_b',
  'a\tb',
  '½',
  '1',
  '01',
  '10',
  '9',
];
/** Groups of equal values with different text: a key changed within a group keeps its "=" but not its spelling. */
const NUMERIC_KEY_GROUPS = [
  ['1', '1.0', '1.00', '1.000'],
  ['2.5', '2.50'],
  ['0', '0.0', '-0', '-0.00'],
  ['100', '1e2', '100.0'],
  ['-7.10', '-7.1'],
];
const FLOAT_KEY_GROUPS = [['0', '-0'], ['NaN'], ['Infinity'], ['-Infinity'], ['1.5'], ['1e-310']];
const CI_KEY_GROUPS = [
  ['abc', 'ABC', 'Abc', 'aBc'],
  ['straße', 'STRASSE', 'Straße'],
  ['é', 'É'],
  ['x', 'X'],
];

/** The collation family's keys as an array literal (none holds a single quote). */
function collationSeedArray(): string {
  return `{${COLLATION_KEYS.map((k) => `"${k.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
}

const maybeNull = <T>(rng: Rng, value: T, p = 0.1): T | null => (rng.chance(p) ? null : value);
const timestamptz = (rng: Rng) =>
  rng.chance(0.5)
    ? rng.pick(TIMESTAMPTZ)
    : new Date(Date.UTC(2020, 0, 1) + rng.int(0, 10 ** 9) * 1000).toISOString().replace('Z', `${rng.int(0, 999)}+00`);
const float8 = (rng: Rng) => (rng.chance(0.6) ? rng.pick(FLOAT8) : String((rng.next() - 0.5) * 10 ** rng.int(-30, 30)));
const uuid = (rng: Rng) => {
  const h = rng.hex(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const text = (rng: Rng) => (rng.chance(0.7) ? rng.pick(TEXTS) : `t${rng.int(0, 1e6)}`);
/** An existing row's key (recent rows first), as a scalar subquery. */
const recent = (table: string, column = 'id') => `(SELECT ${column} FROM ${table} ORDER BY ${column} DESC OFFSET $1 LIMIT 1)`;
const offset = (rng: Rng) => rng.int(0, 60);
/** Picks an existing key (or nothing). */
async function someId(ctx: OpContext, table: string): Promise<number | undefined> {
  const rows = await ctx.q(`SELECT id::text AS id FROM ${table} ORDER BY id DESC OFFSET $1 LIMIT 1`, [offset(ctx.rng)]);
  return rows[0] ? Number(rows[0].id) : undefined;
}

// ---------------------------------------------------------------------------

const basic: Family = {
  name: 'basic',
  about: 'inserts (single, multi-row, upserts), updates (one row, many rows), deletes on a bigint-keyed table',
  tables: ['t_basic'],
  primary: 'CREATE TABLE t_basic (id bigint PRIMARY KEY, n int NOT NULL, s text, at timestamptz NOT NULL DEFAULT now());',
  seed: "INSERT INTO t_basic (id, n, s) SELECT g, g % 100, 'seed ' || g FROM generate_series(1, 500) g;",
  ops: [
    [
      4,
      async ({ rng, shared, q }) => {
        await q('INSERT INTO t_basic (id, n, s, at) VALUES ($1, $2, $3, $4::timestamptz)', [
          shared.id('t_basic'),
          rng.int(-1000, 1000),
          maybeNull(rng, text(rng)),
          timestamptz(rng),
        ]);
      },
    ],
    [
      1,
      async ({ rng, shared, q }) => {
        const n = rng.int(2, 50);
        await q("INSERT INTO t_basic (id, n, s) SELECT $1::bigint + g, g, 'bulk ' || g FROM generate_series(0, $2::int - 1) g", [
          shared.id('t_basic', n),
          n,
        ]);
      },
    ],
    [
      4,
      async ({ rng, q }) => {
        await q(`UPDATE t_basic SET n = n + 1, s = $2 WHERE id = ${recent('t_basic')}`, [offset(rng), maybeNull(rng, text(rng))]);
      },
    ],
    [1, async ({ rng, q }) => void (await q('UPDATE t_basic SET n = n * 2 % 1000 WHERE id % 17 = $1', [rng.int(0, 16)]))],
    [2, async ({ rng, q }) => void (await q(`DELETE FROM t_basic WHERE id = ${recent('t_basic')}`, [offset(rng)]))],
    [
      1,
      async ({ rng, q }) => {
        await q(
          "INSERT INTO t_basic (id, n, s) VALUES ((SELECT coalesce(max(id), 0) FROM t_basic) - $1, 1, 'upsert') ON CONFLICT (id) DO UPDATE SET n = t_basic.n + 1, s = EXCLUDED.s",
          [rng.int(0, 30)],
        );
      },
    ],
  ],
};

const keys: Family = {
  name: 'keys',
  about:
    'key changes (UPDATE of the primary key): to a fresh key, chained in one transaction, swapped through a temporary key, shifted in ranges, a deleted key reused, a row deleted and re-inserted under its key in one statement',
  tables: ['t_keys'],
  primary: 'CREATE TABLE t_keys (id bigint PRIMARY KEY, v int NOT NULL, tag text);',
  seed: "INSERT INTO t_keys SELECT g, g, 'seed' FROM generate_series(1, 300) g;",
  ops: [
    [
      3,
      async ({ rng, shared, q }) =>
        void (await q('INSERT INTO t_keys VALUES ($1, $2, $3)', [shared.id('t_keys'), rng.int(0, 99), text(rng)])),
    ],
    [
      3,
      async ({ rng, shared, q }) => {
        await q(`UPDATE t_keys SET id = $2, v = v + 1 WHERE id = ${recent('t_keys')}`, [offset(rng), shared.id('t_keys')]);
      },
    ],
    [
      2,
      async (ctx) => {
        const a = await someId(ctx, 't_keys');
        if (a === undefined) return;
        const b = ctx.shared.id('t_keys');
        const c = ctx.shared.id('t_keys');
        await ctx.q('UPDATE t_keys SET id = $2 WHERE id = $1', [a, b]);
        await ctx.q("UPDATE t_keys SET id = $2, tag = 'chained' WHERE id = $1", [b, c]);
      },
    ],
    [
      2,
      async (ctx) => {
        const a = await someId(ctx, 't_keys');
        const b = await someId(ctx, 't_keys');
        if (a === undefined || b === undefined || a === b) return;
        await ctx.q('UPDATE t_keys SET id = -$1::bigint WHERE id = $1', [a]);
        await ctx.q('UPDATE t_keys SET id = $1 WHERE id = $2', [a, b]);
        await ctx.q('UPDATE t_keys SET id = $2 WHERE id = -$1::bigint', [a, b]);
      },
    ],
    [
      1,
      async (ctx) => {
        const a = await someId(ctx, 't_keys');
        if (a === undefined) return;
        const block = ctx.shared.id('t_keys', 10);
        await ctx.q('UPDATE t_keys SET id = id - $1 + $2 WHERE id BETWEEN $1 AND $1 + 5', [a, block]);
      },
    ],
    [
      2,
      async (ctx) => {
        const a = await someId(ctx, 't_keys');
        const b = await someId(ctx, 't_keys');
        if (a === undefined || b === undefined || a === b) return;
        await ctx.q('DELETE FROM t_keys WHERE id = $1', [a]);
        await ctx.q("UPDATE t_keys SET id = $1, tag = 'took a deleted key' WHERE id = $2", [a, b]);
      },
    ],
    [
      2,
      async ({ rng, q }) => {
        await q(
          `WITH d AS (DELETE FROM t_keys WHERE id = ${recent('t_keys')} RETURNING *)
           INSERT INTO t_keys SELECT id, v + 100, 'reborn' FROM d`,
          [offset(rng)],
        );
      },
    ],
    [
      2,
      async ({ rng, shared, q }) => {
        const a = shared.id('t_keys');
        await q('INSERT INTO t_keys VALUES ($1, 0, $2)', [a, 'born then moved']);
        await q('UPDATE t_keys SET id = $2 WHERE id = $1', [a, shared.id('t_keys')]);
        if (rng.chance(0.5)) await q('DELETE FROM t_keys WHERE id = $1', [a]);
      },
    ],
    [1, async ({ rng, q }) => void (await q(`DELETE FROM t_keys WHERE id = ${recent('t_keys')}`, [offset(rng)]))],
  ],
};

const TENANTS = ['acme', 'Acme', 'globex', 'initech', 'ü-corp', 'acme '];
const composite: Family = {
  name: 'composite',
  about: 'a three-column key (text, int, smallint): inserts, updates, changes of one key column, deletes by key prefix',
  tables: ['t_composite'],
  primary: 'CREATE TABLE t_composite (tenant text, id int, seq smallint, payload text, PRIMARY KEY (tenant, id, seq));',
  seed: "INSERT INTO t_composite SELECT t, g, s, 'seed' FROM pg_catalog.unnest(ARRAY['acme', 'globex']) t, generate_series(1, 50) g, generate_series(0, 2) s;",
  ops: [
    [
      3,
      async ({ rng, shared, q }) => {
        await q('INSERT INTO t_composite VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
          rng.pick(TENANTS),
          rng.chance(0.5) ? shared.id('t_composite') : rng.int(1, 60),
          rng.int(0, 3),
          text(rng),
        ]);
      },
    ],
    [
      2,
      async ({ rng, q }) => {
        await q('UPDATE t_composite SET payload = $3 WHERE tenant = $1 AND id = (SELECT max(id) - $2 FROM t_composite)', [
          rng.pick(TENANTS),
          rng.int(0, 20),
          text(rng),
        ]);
      },
    ],
    [
      2,
      async ({ rng, q }) => {
        await q(
          'UPDATE t_composite SET tenant = $2 WHERE tenant = $1 AND id = (SELECT max(id) - $3 FROM t_composite WHERE tenant = $1)',
          [rng.pick(TENANTS), rng.pick(TENANTS), rng.int(0, 20)],
        );
      },
    ],
    [
      1,
      async ({ rng, q }) => {
        await q('UPDATE t_composite SET seq = seq + 10 WHERE tenant = $1 AND id % 7 = $2 AND seq < 100', [
          rng.pick(TENANTS),
          rng.int(0, 6),
        ]);
      },
    ],
    [
      1,
      async ({ rng, q }) =>
        void (await q('DELETE FROM t_composite WHERE tenant = $1 AND id % 11 = $2', [rng.pick(TENANTS), rng.int(0, 10)])),
    ],
  ],
};

const collation: Family = {
  name: 'collation',
  about:
    'text keys whose order and equality depend on the collation (accents, case, combining marks, ß, dotless i, spaces, emoji): upserts, key changes, deletes',
  tables: ['t_text_keys'],
  primary: 'CREATE TABLE t_text_keys (k text PRIMARY KEY, v int NOT NULL, note text);',
  seed: `INSERT INTO t_text_keys SELECT k, 0, NULL FROM pg_catalog.unnest('${collationSeedArray()}'::text[]) k ON CONFLICT DO NOTHING;`,
  ops: [
    [
      3,
      async ({ rng, q }) => {
        const k = `${rng.pick(COLLATION_KEYS)}${rng.pick(['', '', '1', '-x'])}`;
        await q(
          'INSERT INTO t_text_keys VALUES ($1, 1, $2) ON CONFLICT (k) DO UPDATE SET v = t_text_keys.v + 1, note = EXCLUDED.note',
          [k, text(rng)],
        );
      },
    ],
    [
      2,
      async ({ rng, q }) => {
        await q('UPDATE t_text_keys SET k = $2 WHERE k = $1', [
          rng.pick(COLLATION_KEYS),
          `${rng.pick(COLLATION_KEYS)}${rng.int(0, 9)}`,
        ]);
      },
    ],
    [1, async ({ rng, q }) => void (await q('DELETE FROM t_text_keys WHERE k = $1', [rng.pick(COLLATION_KEYS)]))],
  ],
};

/** Keys equal by "=" but spelled differently: an upsert or a key update within a group changes only the spelling. */
function equalKeyFamily(
  name: string,
  table: string,
  type: string,
  groups: readonly (readonly string[])[],
  setup: string,
  about: string,
): Family {
  return {
    name,
    about: `keys equal by "=" but spelled differently (${about}): an upsert (ON CONFLICT DO UPDATE SET k = EXCLUDED.k) or a key update within a group changes only the key's spelling; deletes`,
    tables: [table],
    primary: setup,
    replica: setup,
    ops: [
      [
        2,
        async ({ rng, q }) => {
          await q(
            `INSERT INTO ${table} VALUES ($1::${type}, $2) ON CONFLICT (k) DO UPDATE SET k = EXCLUDED.k, v = ${table}.v + EXCLUDED.v`,
            [rng.pick(rng.pick(groups)), rng.int(1, 9)],
          );
        },
      ],
      [
        2,
        async ({ rng, q }) => {
          const group = rng.pick(groups);
          await q(`UPDATE ${table} SET k = $2::${type}, v = v + 1 WHERE k = $1::${type}`, [rng.pick(group), rng.pick(group)]);
        },
      ],
      [1, async ({ rng, q }) => void (await q(`DELETE FROM ${table} WHERE k = $1::${type}`, [rng.pick(rng.pick(groups))]))],
    ],
  };
}

const numericKeys = equalKeyFamily(
  'numeric-keys',
  't_numeric_keys',
  'numeric',
  NUMERIC_KEY_GROUPS,
  'CREATE TABLE t_numeric_keys (k numeric PRIMARY KEY, v int NOT NULL);',
  'numeric 1 = 1.0 = 1.00, 0 = -0',
);
const floatKeys = equalKeyFamily(
  'float-keys',
  't_float_keys',
  'float8',
  FLOAT_KEY_GROUPS,
  'CREATE TABLE t_float_keys (k float8 PRIMARY KEY, v int NOT NULL);',
  'float8 0 = -0, NaN, ±Infinity, a subnormal',
);
const ciKeys = equalKeyFamily(
  'ci-keys',
  't_ci_keys',
  'text',
  CI_KEY_GROUPS,
  `CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
   CREATE TABLE t_ci_keys (k text COLLATE ci PRIMARY KEY, v int NOT NULL);`,
  "a case-insensitive, nondeterministic ICU collation: 'abc' = 'ABC'",
);

const TYPE_COLUMNS: Array<[string, string, (rng: Rng) => string]> = [
  ['b', 'bytea', (rng) => (rng.chance(0.7) ? rng.pick(BYTEAS) : `\\x${rng.hex(rng.int(1, 40))}`)],
  ['tz', 'timestamptz', timestamptz],
  ['ts', 'timestamp', (rng) => rng.pick(TIMESTAMP)],
  ['f4', 'real', (rng) => (rng.chance(0.7) ? rng.pick(FLOAT4) : String(rng.next() * 1e6))],
  ['f8', 'double precision', float8],
  ['n', 'numeric', (rng) => (rng.chance(0.7) ? rng.pick(NUMERIC) : `${rng.int(-1e9, 1e9)}.${rng.int(0, 1e6)}`)],
  ['n2', 'numeric(12,4)', (rng) => rng.pick(['0', '1.23456', '-99999999.9999', 'NaN', '0.00005'])],
  ['m', 'mood', (rng) => rng.pick(MOODS)],
  ['d', 'posint', (rng) => String(rng.pick([1, 2147483647, rng.int(1, 1000)]))],
  ['iv', 'interval', (rng) => rng.pick(INTERVALS)],
  ['tx', 'text', text],
  ['vc', 'varchar(20)', (rng) => text(rng).slice(0, 20)],
  ['bo', 'boolean', (rng) => rng.pick(['true', 'false'])],
  ['dt', 'date', (rng) => rng.pick(DATES)],
  ['tm', 'time', (rng) => rng.pick(TIMES)],
  ['ttz', 'timetz', (rng) => rng.pick(TIMETZ)],
  ['uu', 'uuid', uuid],
  ['ip', 'inet', (rng) => rng.pick(INETS)],
  ['bits', 'varbit', (rng) => rng.pick(['', '0', '1010101', '1'.repeat(70)])],
  ['i8', 'bigint', (rng) => rng.pick(BIGINTS)],
  ['ch', 'char(3)', (rng) => rng.pick(['a', 'ab ', '   ', 'ü'])],
  ['rng', 'tstzrange', (rng) => rng.pick(RANGES)],
  ['tsv', 'tsvector', (rng) => rng.pick(TSVECTORS)],
  ['pt', 'point', (rng) => rng.pick(POINTS)],
  ['xm', 'xml', (rng) => rng.pick(XMLS)],
];
const TYPES_TABLE = `CREATE TABLE t_types (id int PRIMARY KEY, ${TYPE_COLUMNS.map(([c, t]) => `${c} ${t}`).join(', ')});`;
const TYPES_SETUP = `
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'very happy', 'it''s "fine"');
  CREATE DOMAIN posint AS int CHECK (VALUE > 0);
  ${TYPES_TABLE}`;
const types: Family = {
  name: 'types',
  about:
    'awkward values of every common type: bytea, timestamptz (infinity, BC, microseconds), timestamp, real and float8 (-0, NaN, ±Infinity, subnormals), numeric (NaN, ±Infinity, 1.0 vs 1.00), an enum, a domain, interval, text (quotes, backslashes, \\N, newlines), varchar, date, time, timetz, uuid, inet, varbit, bigint past 2^53, char(n), tstzrange, tsvector, point, xml',
  tables: ['t_types'],
  primary: TYPES_SETUP,
  replica: TYPES_SETUP,
  ops: [
    [
      3,
      async ({ rng, shared, q }) => {
        const values = TYPE_COLUMNS.map(([, , gen]) => maybeNull(rng, gen(rng)));
        await q(`INSERT INTO t_types VALUES ($1, ${TYPE_COLUMNS.map(([, t], i) => `$${i + 2}::${t}`).join(', ')})`, [
          shared.id('t_types'),
          ...values,
        ]);
      },
    ],
    [
      3,
      async ({ rng, q }) => {
        const [column, type, gen] = rng.pick(TYPE_COLUMNS);
        await q(`UPDATE t_types SET ${column} = $2::${type} WHERE id = ${recent('t_types')}`, [
          offset(rng),
          maybeNull(rng, gen(rng)),
        ]);
      },
    ],
    [1, async ({ rng, q }) => void (await q(`DELETE FROM t_types WHERE id = ${recent('t_types')}`, [offset(rng)]))],
  ],
};

const json: Family = {
  name: 'json',
  about:
    'json and jsonb: JSON null vs SQL NULL, the string "null", duplicate keys and whitespace kept by json, 1e400, -0, nesting, jsonb_set',
  tables: ['t_json'],
  primary: 'CREATE TABLE t_json (id int PRIMARY KEY, j json, jb jsonb);',
  seed: "INSERT INTO t_json SELECT g, CASE WHEN g % 2 = 0 THEN 'null'::json END, CASE WHEN g % 3 = 0 THEN 'null'::jsonb ELSE '{\"a\": null}' END FROM generate_series(1, 100) g;",
  ops: [
    [
      3,
      async ({ rng, shared, q }) => {
        await q('INSERT INTO t_json VALUES ($1, $2::json, $3::jsonb)', [
          shared.id('t_json'),
          maybeNull(rng, rng.pick(JSONS), 0.2),
          maybeNull(rng, rng.pick(JSONS), 0.2),
        ]);
      },
    ],
    [
      3,
      async ({ rng, q }) => {
        const column = rng.pick(['j', 'jb']);
        await q(`UPDATE t_json SET ${column} = $2::${column === 'j' ? 'json' : 'jsonb'} WHERE id = ${recent('t_json')}`, [
          offset(rng),
          maybeNull(rng, rng.pick(['null', 'null', ...JSONS]), 0.3),
        ]);
      },
    ],
    [
      1,
      async ({ rng, q }) => {
        await q(
          `UPDATE t_json SET jb = jsonb_set(coalesce(jb, '{}'), '{k}', 'null') WHERE id = ${recent('t_json')} AND jsonb_typeof(jb) = 'object'`,
          [offset(rng)],
        );
      },
    ],
    [1, async ({ rng, q }) => void (await q(`DELETE FROM t_json WHERE id = ${recent('t_json')}`, [offset(rng)]))],
  ],
};

const arrays: Family = {
  name: 'arrays',
  about:
    "arrays with non-default lower bounds ('[0:2]={1,2,3}', negative bounds), several dimensions, NULL elements, quoted text elements; element assignment at index 0",
  tables: ['t_arrays'],
  primary: 'CREATE TABLE t_arrays (id int PRIMARY KEY, a int[], t text[], m numeric[]);',
  seed: "INSERT INTO t_arrays SELECT g, CASE WHEN g % 2 = 0 THEN '[0:2]={1,2,3}'::int[] ELSE '{1,2}' END, '{x}', NULL FROM generate_series(1, 100) g;",
  ops: [
    [
      3,
      async ({ rng, shared, q }) => {
        await q('INSERT INTO t_arrays VALUES ($1, $2::int[], $3::text[], $4::numeric[])', [
          shared.id('t_arrays'),
          maybeNull(rng, rng.pick(INT_ARRAYS)),
          maybeNull(rng, rng.pick(TEXT_ARRAYS)),
          maybeNull(rng, rng.pick(NUMERIC_ARRAYS), 0.5),
        ]);
      },
    ],
    [
      2,
      async ({ rng, q }) => {
        const [column, pool, type] = rng.pick([
          ['a', INT_ARRAYS, 'int[]'],
          ['t', TEXT_ARRAYS, 'text[]'],
        ] as const);
        await q(`UPDATE t_arrays SET ${column} = $2::${type} WHERE id = ${recent('t_arrays')}`, [offset(rng), rng.pick(pool)]);
      },
    ],
    [
      1,
      async ({ rng, q }) => {
        // Assigning below a one-dimensional array's lower bound extends it: '{1,2}' becomes '[0:2]={9,1,2}'.
        await q(`UPDATE t_arrays SET a[0] = 9 WHERE id = ${recent('t_arrays')} AND array_ndims(a) = 1`, [offset(rng)]);
      },
    ],
    [1, async ({ rng, q }) => void (await q(`DELETE FROM t_arrays WHERE id = ${recent('t_arrays')}`, [offset(rng)]))],
  ],
};

const partitions: Family = {
  name: 'partitions',
  about:
    'a list-partitioned table (replicated at its root; a plain table on the replica, made by replicator add) written through its root and directly through its partitions: inserts, updates, rows moving between partitions, deletes, TRUNCATE of one partition; new partitions created while it runs (schedule)',
  tables: ['t_part'],
  primary: `
    CREATE TABLE t_part (id bigint, region int, v text, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE t_part_r0 PARTITION OF t_part FOR VALUES IN (0);
    CREATE TABLE t_part_r1 PARTITION OF t_part FOR VALUES IN (1);
    CREATE TABLE t_part_r2 PARTITION OF t_part FOR VALUES IN (2);`,
  seed: "INSERT INTO t_part SELECT g, g % 3, 'seed', now() FROM generate_series(1, 300) g;",
  ops: [
    [
      3,
      async ({ rng, shared, q }) => {
        const region = rng.pick(shared.regions);
        const direct = rng.chance(0.5);
        await q(`INSERT INTO ${direct ? `t_part_r${region}` : 't_part'} (id, region, v) VALUES ($1, $2, $3)`, [
          shared.id('t_part'),
          region,
          text(rng),
        ]);
      },
    ],
    [
      3,
      async ({ rng, shared, q }) => {
        const region = rng.pick(shared.regions);
        const target = rng.chance(0.5) ? `t_part_r${region}` : 't_part';
        await q(
          `UPDATE ${target} SET v = $3 WHERE region = $2 AND id = (SELECT id FROM t_part WHERE region = $2 ORDER BY id DESC OFFSET $1 LIMIT 1)`,
          [offset(rng), region, text(rng)],
        );
      },
    ],
    [
      2,
      async ({ rng, shared, q }) => {
        // A row moving to another partition (through the root: PostgreSQL deletes it from one and inserts it into the other).
        await q(
          'UPDATE t_part SET region = $3 WHERE region = $2 AND id = (SELECT id FROM t_part WHERE region = $2 ORDER BY id DESC OFFSET $1 LIMIT 1)',
          [offset(rng), rng.pick(shared.regions), rng.pick(shared.regions)],
        );
      },
    ],
    [
      2,
      async ({ rng, shared, q }) => {
        const region = rng.pick(shared.regions);
        const target = rng.chance(0.5) ? `t_part_r${region}` : 't_part';
        await q(
          `DELETE FROM ${target} WHERE region = $2 AND id = (SELECT id FROM t_part WHERE region = $2 ORDER BY id DESC OFFSET $1 LIMIT 1)`,
          [offset(rng), region],
        );
      },
    ],
    [0.2, async ({ rng, shared, q }) => void (await q(`TRUNCATE t_part_r${rng.pick(shared.regions)}`))],
  ],
};

const partitionDdl: Family = {
  name: 'partition-ddl',
  about:
    'partition maintenance while it runs (schedule): DETACH PARTITION then DROP of a partition with rows, ATTACH PARTITION of a filled table; the replica follows the root (rows leave and join it)',
  tables: [],
  requires: ['partitions'],
};

const truncate: Family = {
  name: 'truncate',
  about:
    'TRUNCATE: alone, followed by inserts in the same transaction, of two tables in one statement, RESTART IDENTITY, of a partitioned root',
  tables: ['t_trunc'],
  primary: 'CREATE TABLE t_trunc (id bigint PRIMARY KEY, v int NOT NULL);',
  seed: 'INSERT INTO t_trunc SELECT g, g FROM generate_series(1, 200) g;',
  ops: [
    [
      6,
      async ({ rng, shared, q }) => void (await q('INSERT INTO t_trunc VALUES ($1, $2)', [shared.id('t_trunc'), rng.int(0, 9)])),
    ],
    [3, async ({ rng, q }) => void (await q(`UPDATE t_trunc SET v = v + 1 WHERE id = ${recent('t_trunc')}`, [offset(rng)]))],
    [
      1,
      async ({ rng, shared, q, enabled }) => {
        const also = enabled.has('basic') && rng.chance(0.2) ? ', t_basic' : '';
        await q(`TRUNCATE t_trunc${also}${rng.chance(0.3) ? ' RESTART IDENTITY' : ''}`);
        for (let i = rng.int(0, 3); i > 0; i--) await q('INSERT INTO t_trunc VALUES ($1, 0)', [shared.id('t_trunc')]);
      },
    ],
    [
      0.3,
      async ({ enabled, q }) => {
        if (enabled.has('partitions')) await q('TRUNCATE t_part');
      },
    ],
  ],
};

const unique: Family = {
  name: 'unique',
  about:
    'a UNIQUE column besides the key (on both servers): values swapped between rows and moved from a deleted row, inside one transaction',
  tables: ['t_unique'],
  primary: 'CREATE TABLE t_unique (id int PRIMARY KEY, code text NOT NULL UNIQUE, v int);',
  replica: 'CREATE TABLE t_unique (id int PRIMARY KEY, code text NOT NULL UNIQUE, v int);',
  seed: "INSERT INTO t_unique SELECT g, 'c' || g, 0 FROM generate_series(1, 100) g;",
  ops: [
    [
      3,
      async ({ shared, q }) => {
        const id = shared.id('t_unique');
        await q('INSERT INTO t_unique VALUES ($1, $2, 0)', [id, `c${id}`]);
      },
    ],
    [
      3,
      async (ctx) => {
        const a = await someId(ctx, 't_unique');
        const b = await someId(ctx, 't_unique');
        if (a === undefined || b === undefined || a === b) return;
        const codes = await ctx.q('SELECT id, code FROM t_unique WHERE id IN ($1, $2)', [a, b]);
        const ca = codes.find((r) => r.id === a)?.code;
        const cb = codes.find((r) => r.id === b)?.code;
        if (ca === undefined || cb === undefined) return;
        await ctx.q("UPDATE t_unique SET code = code || '~swap' WHERE id = $1", [a]);
        await ctx.q('UPDATE t_unique SET code = $2 WHERE id = $1', [b, ca]);
        await ctx.q('UPDATE t_unique SET code = $2 WHERE id = $1', [a, cb]);
      },
    ],
    [
      2,
      async (ctx) => {
        const a = await someId(ctx, 't_unique');
        const b = await someId(ctx, 't_unique');
        if (a === undefined || b === undefined || a === b) return;
        const rows = await ctx.q('DELETE FROM t_unique WHERE id = $1 RETURNING code', [a]);
        if (rows[0]) await ctx.q('UPDATE t_unique SET code = $2 WHERE id = $1', [b, rows[0].code]);
      },
    ],
    [2, async ({ rng, q }) => void (await q(`UPDATE t_unique SET v = v + 1 WHERE id = ${recent('t_unique')}`, [offset(rng)]))],
  ],
};

const GEN_TABLE =
  "CREATE TABLE t_gen (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, a int NOT NULL, b int GENERATED ALWAYS AS (a * 2) STORED, c text DEFAULT 'x');";
const generated: Family = {
  name: 'generated',
  about: 'an identity key (GENERATED ALWAYS AS IDENTITY) and a stored generated column (computed by the replica)',
  tables: ['t_gen'],
  primary: GEN_TABLE,
  replica: GEN_TABLE,
  seed: 'INSERT INTO t_gen (a) SELECT g FROM generate_series(1, 100) g;',
  ops: [
    [
      3,
      async ({ rng, q }) =>
        void (await q('INSERT INTO t_gen (a, c) VALUES ($1, $2)', [rng.int(-1e6, 1e6), maybeNull(rng, text(rng))])),
    ],
    [3, async ({ rng, q }) => void (await q(`UPDATE t_gen SET a = a + 1 WHERE id = ${recent('t_gen')}`, [offset(rng)]))],
    [1, async ({ rng, q }) => void (await q(`DELETE FROM t_gen WHERE id = ${recent('t_gen')}`, [offset(rng)]))],
  ],
};

const toast: Family = {
  name: 'toast',
  about: 'large values (TOASTed, 60–200 kB, incompressible) and updates that leave them unchanged',
  tables: ['t_toast'],
  primary: 'CREATE TABLE t_toast (id int PRIMARY KEY, big text, small int NOT NULL);',
  weight: 0.3,
  ops: [
    [
      2,
      async ({ rng, shared, q }) =>
        void (await q('INSERT INTO t_toast VALUES ($1, $2, 0)', [shared.id('t_toast'), rng.hex(rng.int(30_000, 100_000))])),
    ],
    [
      4,
      async ({ rng, q }) => void (await q(`UPDATE t_toast SET small = small + 1 WHERE id = ${recent('t_toast')}`, [offset(rng)])),
    ],
    [
      1,
      async ({ rng, q }) => void (await q(`UPDATE t_toast SET big = big || 'x' WHERE id = ${recent('t_toast')}`, [offset(rng)])),
    ],
    [1, async ({ rng, q }) => void (await q(`DELETE FROM t_toast WHERE id = ${recent('t_toast')}`, [offset(rng)]))],
  ],
};

const ddl: Family = {
  name: 'ddl',
  about:
    'schema changes while writes go on (schedule), applied to the replica the way README\'s "What happens on DDL" asks a DBA to: ADD COLUMN with and without a constant default (replica first, or primary first and the replica a moment later; sometimes in one transaction with an UPDATE filling it), DROP COLUMN (primary, then replica), ALTER COLUMN TYPE int → bigint and RENAME COLUMN (either order); on t_ddl, and ADD COLUMN on the partitioned root when partitions are on',
  tables: ['t_ddl'],
  primary: 'CREATE TABLE t_ddl (id int PRIMARY KEY, n int, s text);',
  replica: 'CREATE TABLE t_ddl (id int PRIMARY KEY, n int, s text);',
  seed: "INSERT INTO t_ddl SELECT g, g, 'seed' FROM generate_series(1, 200) g;",
  ops: [
    [
      3,
      async ({ rng, shared, q }) => {
        const columns = [...shared.ddlColumns];
        await q(
          `INSERT INTO t_ddl (id${columns.map(([c]) => `, ${c}`).join('')}) VALUES ($1${columns.map((_, i) => `, $${i + 2}`).join('')})`,
          [
            shared.id('t_ddl'),
            ...columns.map(([, type]) => maybeNull(rng, type === 'text' ? text(rng) : String(rng.int(-1000, 1000)))),
          ],
        );
      },
    ],
    [
      3,
      async ({ rng, shared, q }) => {
        const [column, type] = rng.pick([...shared.ddlColumns]);
        await q(`UPDATE t_ddl SET ${column} = $2 WHERE id = ${recent('t_ddl')}`, [
          offset(rng),
          type === 'text' ? text(rng) : String(rng.int(-1000, 1000)),
        ]);
      },
    ],
    [1, async ({ rng, q }) => void (await q(`DELETE FROM t_ddl WHERE id = ${recent('t_ddl')}`, [offset(rng)]))],
  ],
};

const autoAddColumns: Family = {
  name: 'auto-add-columns',
  about:
    'the replicator runs with AUTO_ADD_COLUMNS=true: a column added on the primary is left to the replicator (or added by the DBA later, IF NOT EXISTS)',
  tables: [],
  requires: ['ddl'],
};

const longTx: Family = {
  name: 'long-tx',
  about: 'transactions held open for 0.5–3 s with writes while others commit after them (commit order differs from change order)',
  tables: ['t_long'],
  primary: 'CREATE TABLE t_long (id bigint PRIMARY KEY, v int NOT NULL, note text);',
};

const sessions: Family = {
  name: 'sessions',
  about:
    'writers with their own session settings (DateStyle, TimeZone, IntervalStyle, extra_float_digits, bytea_output) that change how values print',
  tables: [],
};

const savepoints: Family = {
  name: 'savepoints',
  about: 'savepoints rolled back and released inside transactions, and whole transactions rolled back',
  tables: [],
};

const copy: Family = {
  name: 'copy',
  about:
    'tables hold rows before they are added: the initial copy runs while writers write and the replicator is killed; replicator resync of a table now and then (schedule)',
  tables: [],
};

export const FAMILIES: readonly Family[] = [
  basic,
  keys,
  composite,
  collation,
  numericKeys,
  floatKeys,
  ciKeys,
  types,
  json,
  arrays,
  partitions,
  partitionDdl,
  truncate,
  unique,
  generated,
  toast,
  ddl,
  autoAddColumns,
  longTx,
  sessions,
  savepoints,
  copy,
];

/** RANDOM_FEATURES: "all" (the default), names, and "-name" to leave one out; unknown names are an error. */
export function selectFamilies(spec: string | undefined): Set<string> {
  const names = new Set(FAMILIES.map((f) => f.name));
  const selected = new Set<string>();
  for (const raw of (spec ?? 'all')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const negate = raw.startsWith('-');
    const name = negate ? raw.slice(1) : raw;
    const targets = name === 'all' ? [...names] : [name];
    if (name !== 'all' && !names.has(name))
      throw new Error(`RANDOM_FEATURES: unknown family "${name}"; known: ${[...names].join(', ')}`);
    for (const t of targets) negate ? selected.delete(t) : selected.add(t);
  }
  for (const f of FAMILIES) {
    for (const r of f.requires ?? []) {
      if (selected.has(f.name) && !selected.has(r)) throw new Error(`RANDOM_FEATURES: ${f.name} needs ${r}`);
    }
  }
  return selected;
}

/** Session settings a writer may take (sessions family): each changes how some values print. */
export function sessionSettings(rng: Rng): string {
  const settings = [
    `SET LOCAL DateStyle = '${rng.pick(['SQL, DMY', 'German', 'Postgres, YMD', 'ISO, DMY'])}'`,
    `SET LOCAL TimeZone = '${rng.pick(['Pacific/Chatham', 'America/St_Johns', 'Asia/Kathmandu', 'UTC', '-03:30'])}'`,
    `SET LOCAL IntervalStyle = '${rng.pick(['sql_standard', 'iso_8601', 'postgres_verbose'])}'`,
    `SET LOCAL extra_float_digits = ${rng.int(-15, 3)}`,
    `SET LOCAL bytea_output = '${rng.pick(['escape', 'hex'])}'`,
  ];
  return settings.filter(() => rng.chance(0.6)).join('; ');
}

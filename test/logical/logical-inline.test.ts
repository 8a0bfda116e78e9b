/**
 * The inline path of logical mode: a batch whose tables all have canonical
 * keys (integers, uuid), no TRUNCATE, no unchanged TOAST value and fits the
 * inline limits is reduced in the process to each key's final state and
 * applied in one autocommit statement. Checked two ways on real servers:
 * the batch builder's array literals, parsed by the replica's own input
 * functions, hold exactly the values the primary printed (NULL vs "NULL",
 * empty strings, backslashes, quotes, braces, commas, tabs, newlines,
 * arrays, json, bytea), each key at its final state across repeated changes
 * and transactions, moved keys included; and end to end, a table with an
 * integer key is applied by the one statement (seen from a replica trigger)
 * and ends equal, while a numeric key (1.0 = 1.00, spelled differently)
 * takes the staged path and still ends with the primary's spelling. Lines
 * stay in memory only within the memory budget and while their share can
 * still go inline; a large value's line goes to disk, byte for byte.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addTable } from '../../src/capture/replication-set.js';
import { Database } from '../../src/db/database.js';
import type { Service } from '../../src/service.js';
import { copyValue } from '../../src/source/logical/copy-text.js';
import { logicalBatch } from '../../src/source/logical/logical-batch.js';
import { LARGE_VALUE_BYTES, type PgOutputMessage, type TupleValue } from '../../src/source/logical/pgoutput.js';
import { type Transaction, TransactionAssembler } from '../../src/source/logical/transaction-assembler.js';
import { EMPTY_POSITION } from '../../src/source/position.js';
import type { ColumnInfo, ReplicatedTable } from '../../src/tables/table-model.js';
import { REPLICATOR_ROLE, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

const AWKWARD_SQL = `(id int PRIMARY KEY, t text, j json, jb jsonb, arr text[], b bytea, n numeric, v varchar(40))`;
const AWKWARD: Array<[string, string]> = [
  ['id', 'integer'],
  ['t', 'text'],
  ['j', 'json'],
  ['jb', 'jsonb'],
  ['arr', 'text[]'],
  ['b', 'bytea'],
  ['n', 'numeric'],
  ['v', 'character varying(40)'],
];

function column(attnum: number, name: string, type: string): ColumnInfo {
  return {
    attnum,
    name,
    type,
    baseType: type.replace(/\(.*\)$/, ''),
    notNull: attnum === 1,
    identityAlways: false,
    notNullDomain: false,
    generatedExpr: null,
    defaultExpr: null,
    missingValue: null,
    hasMissing: false,
  };
}

function model(name: string, columns: Array<[string, string]>): ReplicatedTable {
  const [key, keyType] = columns[0] as [string, string];
  return {
    table: { schema: 'public', name },
    relid: 4242,
    partitioned: false,
    log: { schema: 'public', name: `${name}_changes` },
    logKeyColumns: [key],
    markProcessed: false,
    keyColumns: [key],
    keyTypes: [keyType],
    primaryKeyOperators: ['pg_catalog.='],
    replicaKeyOperators: ['pg_catalog.='],
    primaryKeyGreater: ['pg_catalog.>'],
    columns: columns.map(([n, t], i) => column(i + 1, n, t)),
    updateColumns: columns.map(([n]) => n),
    replicaRow: columns.map(([n]) => n),
    copyRequestedAt: '2026-01-01 00:00:00+00',
  };
}

/** Transactions as the assembler makes them from pgoutput messages (one list of changes per transaction). */
function assemble(
  table: ReplicatedTable,
  transactions: PgOutputMessage[][],
  memory: { budget?: number; inlineLines?: number } = {},
): Transaction[] {
  const done: Transaction[] = [];
  const assembler = new TransactionAssembler(
    new Map([[table.relid, table]]),
    0n,
    (tx) => done.push(tx),
    () => {},
    () => {},
    () => memory.budget ?? 1 << 30,
    new Set(),
    0n,
    () => [],
    memory.inlineLines,
  );
  assembler.handle({
    tag: 'relation',
    relid: table.relid,
    schema: 'public',
    name: table.table.name,
    replicaIdentity: 'd',
    columns: table.columns.map((c, i) => ({ name: c.name, key: i === 0, typeOid: 25 })),
  });
  let lsn = 100n;
  for (const changes of transactions) {
    assembler.handle({ tag: 'begin', finalLsn: lsn, commitTime: 0n, xid: 1 });
    for (const change of changes) assembler.handle(change);
    lsn += 100n;
    assembler.handle({ tag: 'commit', commitLsn: lsn - 1n, endLsn: lsn, commitTime: 0n });
  }
  return done;
}

const insert = (relid: number, row: TupleValue[]): PgOutputMessage => ({ tag: 'insert', relid, row });
const update = (relid: number, row: TupleValue[], oldKey?: string): PgOutputMessage => ({
  tag: 'update',
  relid,
  old: oldKey === undefined ? null : [oldKey, ...row.slice(1).map(() => null)],
  oldKind: oldKey === undefined ? null : 'K',
  row,
});
const remove = (relid: number, key: string, width: number): PgOutputMessage => ({
  tag: 'delete',
  relid,
  oldKind: 'K',
  old: [key, ...Array.from({ length: width - 1 }, () => null)],
});

const LIMITS = { rows: 5000, bytes: 16 * 1024 * 1024 };

describe('logical mode: the inline path', () => {
  let servers: TestServers;
  let service: Service | undefined;

  before(async () => {
    servers = await startLogicalServers();
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  it('reduces a batch to each key final state, values exact through the array and record literals', async () => {
    await servers.replicaSql.query(`CREATE TABLE public.awkward_model ${AWKWARD_SQL}`);
    const table = model('awkward_model', AWKWARD);
    const r = table.relid;
    const nasty = [
      'NULL',
      '',
      ' lead and trail ',
      'back\\slash \\\\ two \\N',
      "quote \" and 'single'",
      '{braces,commas}',
      '(parens,"x")',
      'tab\there\nnewline\r\nCRLF',
    ];
    const row = (id: number, i: number): TupleValue[] => [
      String(id),
      nasty[i % nasty.length] as string,
      i % 2 === 0 ? '{"a":  [1, null],  "a": "dup\\"q"}' : 'null',
      '{"k": "v\\\\w"}',
      i % 3 === 0 ? '{"a b","NULL",NULL,"",\\\\,"\\"","{}"}' : '[0:1]={x,y}',
      i % 2 === 0 ? '\\x00ff5c0a22' : '\\x',
      i % 2 === 0 ? '1.000' : 'NaN',
      i % 4 === 0 ? null : (nasty[(i + 3) % nasty.length] as string).slice(0, 40),
    ];
    const transactions = assemble(table, [
      // Inserted, updated twice, deleted, inserted again; a key moved; a key deleted for good.
      [
        insert(r, row(1, 0)),
        insert(r, row(2, 1)),
        insert(r, row(3, 2)),
        insert(r, row(4, 3)),
        update(r, row(1, 4)),
        update(r, row(1, 5)),
        remove(r, '2', AWKWARD.length),
        insert(r, row(2, 6)),
        update(r, row(30, 7), '3'),
        remove(r, '4', AWKWARD.length),
      ],
      // Later transactions of the same batch: the moved row moves back and on, key 1 ends deleted, 7 never existed before.
      [update(r, row(3, 1), '30'), update(r, row(31, 2), '3'), remove(r, '1', AWKWARD.length)],
      [insert(r, row(7, 3)), update(r, row(7, 0)), insert(r, row(1, 5)), remove(r, '1', AWKWARD.length)],
    ]);
    assert.equal(transactions.length, 3);
    const batch = logicalBatch(EMPTY_POSITION, transactions, [], 0n, new Map(), LIMITS);
    const rows = batch.tables[0]?.rows;
    assert.equal(rows?.kind, 'inline', 'the batch goes inline');
    if (rows?.kind !== 'inline') return;
    assert.equal(rows.upsertCount, 3);
    assert.equal(rows.deleteCount, 4);

    // What the primary would print for each final row, from the same texts through the types' input functions.
    const expected = async (values: TupleValue[]) =>
      (
        await servers.replicaSql.query<{ r: string }>(
          `SELECT ROW($1::int, $2::text, $3::json, $4::jsonb, $5::text[], $6::bytea, $7::numeric, $8::varchar(40))::public.awkward_model::text AS r`,
          values,
        )
      ).rows[0]?.r;
    const want: Array<string | undefined> = [];
    for (const values of [row(2, 6), row(7, 0), row(31, 2)]) want.push(await expected(values));
    const got = await servers.replicaSql.query<{ r: string }>(
      'SELECT u::text AS r FROM pg_catalog.unnest($1::public.awkward_model[]) AS u ORDER BY u.id',
      [rows.upserts],
    );
    assert.deepEqual(
      got.rows.map((x) => x.r),
      want,
    );
    // Field by field too: NULL stays NULL, the text "NULL" stays text.
    const nulls = await servers.replicaSql.query<{ id: number; v: string | null; t: string }>(
      'SELECT u.id, u.v, u.t FROM pg_catalog.unnest($1::public.awkward_model[]) AS u ORDER BY u.id',
      [rows.upserts],
    );
    assert.deepEqual(
      nulls.rows.map((x) => [x.id, x.v, x.t]),
      [
        [2, nasty[1], nasty[6]],
        [7, null, nasty[0]],
        [31, nasty[5], nasty[2]],
      ],
    );
    const deleted = await servers.replicaSql.query<{ k: number }>(
      'SELECT k FROM pg_catalog.unnest($1::integer[]) AS k ORDER BY k',
      [rows.deleteKeys?.[0]],
    );
    assert.deepEqual(
      deleted.rows.map((x) => x.k),
      [1, 3, 4, 30],
    );
  });

  it('stages a batch whose keys are not told apart by their text, or that is too large, or spilled to disk', () => {
    const numeric = model('nk_model', [
      ['id', 'numeric'],
      ['v', 'text'],
    ]);
    const txs = () => assemble(numeric, [[insert(numeric.relid, ['1.0', 'a']), update(numeric.relid, ['1.00', 'b'], '1.0')]]);
    assert.equal(logicalBatch(EMPTY_POSITION, txs(), [], 0n, new Map(), LIMITS).tables[0]?.rows?.kind, 'staged');
    for (const [type, kind] of [
      ['bigint', 'inline'],
      ['uuid', 'inline'],
      ['double precision', 'staged'],
      ['text', 'staged'],
      ['public.citext', 'staged'],
    ] as const) {
      const t = model('k_model', [
        ['id', type],
        ['v', 'text'],
      ]);
      const batch = logicalBatch(EMPTY_POSITION, assemble(t, [[insert(t.relid, ['1', 'a'])]]), [], 0n, new Map(), LIMITS);
      assert.equal(batch.tables[0]?.rows?.kind, kind, type);
    }
    const ints = model('i_model', [
      ['id', 'integer'],
      ['v', 'text'],
    ]);
    const three = () =>
      assemble(ints, [[insert(ints.relid, ['1', 'a']), insert(ints.relid, ['2', 'b']), insert(ints.relid, ['3', 'c'])]]);
    assert.equal(logicalBatch(EMPTY_POSITION, three(), [], 0n, new Map(), LIMITS).tables[0]?.rows?.kind, 'inline');
    assert.equal(
      logicalBatch(EMPTY_POSITION, three(), [], 0n, new Map(), { rows: 2, bytes: LIMITS.bytes }).tables[0]?.rows?.kind,
      'staged',
    );
    assert.equal(
      logicalBatch(EMPTY_POSITION, three(), [], 0n, new Map(), { rows: 10, bytes: 10 }).tables[0]?.rows?.kind,
      'staged',
    );
    assert.equal(logicalBatch(EMPTY_POSITION, three(), [], 0n, new Map(), null).tables[0]?.rows?.kind, 'staged');
    const spilled = three();
    for (const c of spilled[0]?.tables.values() ?? []) c.lines.spill();
    assert.equal(logicalBatch(EMPTY_POSITION, spilled, [], 0n, new Map(), LIMITS).tables[0]?.rows?.kind, 'staged');
    for (const c of spilled[0]?.tables.values() ?? []) c.lines.discard();
    const truncated = assemble(ints, [
      [insert(ints.relid, ['1', 'a']), { tag: 'truncate', relids: [ints.relid] }, insert(ints.relid, ['2', 'b'])],
    ]);
    const part = logicalBatch(EMPTY_POSITION, truncated, [], 0n, new Map(), LIMITS).tables[0];
    assert.equal(part?.clear, 'all');
    assert.equal(part?.rows?.kind, 'staged');
  });

  it('holds lines in memory only within the budget and while they can go inline; a large value goes to disk, exact', async () => {
    const ints = model('m_model', [
      ['id', 'integer'],
      ['v', 'text'],
    ]);
    const rows = (n: number) => Array.from({ length: n }, (_, i) => insert(ints.relid, [String(i + 1), 'value']));
    const inMemory = (txs: Transaction[]) => {
      const lines = [...(txs[0]?.tables.values() ?? [])][0]?.lines;
      const held = lines?.inMemory() !== undefined;
      lines?.discard();
      return held;
    };
    assert.equal(inMemory(assemble(ints, [rows(3)], { inlineLines: 3 })), true);
    assert.equal(inMemory(assemble(ints, [rows(4)], { inlineLines: 3 })), false);
    assert.equal(inMemory(assemble(ints, [rows(3)], { budget: 1000 })), true);
    assert.equal(inMemory(assemble(ints, [rows(100)], { budget: 1000 })), false);

    // A large value arrives as bytes; its line is written to disk as it is escaped, byte for byte.
    const text = `${'☃\\t\t\n\r'.repeat(LARGE_VALUE_BYTES / 4)}end`;
    const txs = assemble(ints, [[insert(ints.relid, ['7', 'small']), insert(ints.relid, ['8', Buffer.from(text)])]]);
    const lines = [...(txs[0]?.tables.values() ?? [])][0]?.lines;
    assert.equal(lines?.inMemory(), undefined);
    assert.equal(logicalBatch(EMPTY_POSITION, txs, [], 0n, new Map(), LIMITS).tables[0]?.rows?.kind, 'staged');
    const chunks: Buffer[] = [];
    for await (const chunk of lines?.read() ?? []) chunks.push(Buffer.from(chunk));
    lines?.discard();
    const expected = `0\t\\N\t\\N\tt\t7\tsmall\n1\t\\N\t\\N\tt\t8\t${copyValue(text)}\n`;
    assert.ok(Buffer.concat(chunks).equals(Buffer.from(expected)));
  });

  it('marks staged lines that name each key once, so the replica need not sort them', () => {
    const ints = model('i_model', [
      ['id', 'integer'],
      ['v', 'text'],
    ]);
    const r = ints.relid;
    const small = { rows: 1, bytes: LIMITS.bytes };
    const distinct = (transactions: PgOutputMessage[][], table = ints) => {
      const rows = logicalBatch(EMPTY_POSITION, assemble(table, transactions), [], 0n, new Map(), small).tables[0]?.rows;
      assert.equal(rows?.kind, 'staged');
      return rows?.kind === 'staged' && rows.distinctKeys === true;
    };
    assert.equal(distinct([[insert(r, ['1', 'a']), insert(r, ['2', 'b']), remove(r, '3', 2)]]), true);
    assert.equal(distinct([[insert(r, ['1', 'a']), insert(r, ['2', 'b']), update(r, ['1', 'c'])]]), false, 'key 1 twice');
    assert.equal(
      distinct([[insert(r, ['1', 'a']), update(r, ['2', 'b'], '1')]]),
      false,
      'a moved key: its delete line and its insert',
    );
    assert.equal(distinct([[insert(r, ['1', 'a']), insert(r, ['2', 'b']), insert(r, ['3', 'c'])]]), true, 'inserts alone');
    assert.equal(distinct([[remove(r, '1', 2), insert(r, ['1', 'a'])]]), false, 'a key deleted, then inserted again');
    assert.equal(distinct([[insert(r, ['1', 'a']), remove(r, '1', 2)]]), false, 'a key inserted, then deleted');
    assert.equal(distinct([[insert(r, ['1', 'a'])], [insert(r, ['2', 'b'])]]), false, 'two transactions: not known');
    assert.equal(
      distinct([[insert(r, ['1', 'a']), { tag: 'truncate', relids: [r] }, insert(r, ['1', 'b']), insert(r, ['2', 'b'])]]),
      true,
      'the lines after a TRUNCATE',
    );
    const numeric = model('nk_model', [
      ['id', 'numeric'],
      ['v', 'text'],
    ]);
    assert.equal(distinct([[insert(r, ['1.0', 'a']), insert(r, ['1.00', 'b'])]], numeric), false, 'numeric: 1.0 = 1.00');
  });

  it('applies an integer-keyed batch in one statement and a numeric-keyed one staged, both ending as the primary', async () => {
    for (const c of [servers.primarySql, servers.replicaSql]) {
      await c.query(`CREATE TABLE public.awkward ${AWKWARD_SQL}; CREATE TABLE public.nk (id numeric PRIMARY KEY, v text)`);
    }
    // Which statement wrote each row on the replica: the one-statement apply starts WITH moved AS.
    await servers.replicaSql.query(`CREATE TABLE public.seen (tbl text, q text);
      CREATE FUNCTION public.note() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO public.seen VALUES (TG_TABLE_NAME, pg_catalog.current_query()); RETURN NULL; END $$;
      CREATE TRIGGER note AFTER INSERT OR UPDATE OR DELETE ON public.awkward FOR EACH ROW EXECUTE FUNCTION public.note();
      CREATE TRIGGER note AFTER INSERT OR UPDATE OR DELETE ON public.nk FOR EACH ROW EXECUTE FUNCTION public.note();
      ALTER TABLE public.awkward ENABLE ALWAYS TRIGGER note; ALTER TABLE public.nk ENABLE ALWAYS TRIGGER note;
      GRANT INSERT ON public.seen TO ${REPLICATOR_ROLE}`);
    const owner = {
      primary: new Database({ url: servers.primaryUrl, role: 'primary' }),
      replica: new Database({ url: servers.replicaUrl, role: 'replica' }),
    };
    try {
      await addTable(owner.primary, owner.replica, 'public.awkward');
      await addTable(owner.primary, owner.replica, 'public.nk');
    } finally {
      await Promise.all([owner.primary.end(), owner.replica.end()]);
    }
    service = await startInProcess(servers, LOGICAL_ENV);
    await waitFor(
      'both tables prepared',
      async () =>
        (
          await servers.replicaSql.query(
            "SELECT count(*)::int AS n FROM replicator.copy_progress WHERE done AND table_name IN ('awkward', 'nk')",
          )
        ).rows[0].n === 2,
      60_000,
    );
    const converged = (table: string) =>
      waitFor(
        `${table} equal on both sides`,
        async () =>
          JSON.stringify(await tableText(servers.primarySql, table)) ===
          JSON.stringify(await tableText(servers.replicaSql, table)),
        60_000,
      );
    const values = `E'tab\\there\\nnew \\\\ "q" ''s'' {a,b} (c)', '{"a":  1, "a": [null]}', 'null',
      ARRAY['NULL', NULL, '', 'x,y', '{z}', E'\\\\', '"']::text[], '\\x00ff5c0a'::bytea, 1.500, NULL`;
    await servers.primarySql.query(`BEGIN;
      INSERT INTO public.awkward SELECT g, 'v' || g, '{}', '[]', '{}', '', 0, 'NULL' FROM generate_series(1, 20) g;
      UPDATE public.awkward SET t = '', v = '' WHERE id = 1;
      UPDATE public.awkward SET t = NULL, v = 'NULL' WHERE id = 1;
      DELETE FROM public.awkward WHERE id = 2;
      INSERT INTO public.awkward VALUES (2, ${values});
      UPDATE public.awkward SET id = 200 WHERE id = 3;
      DELETE FROM public.awkward WHERE id = 4;
      COMMIT`);
    for (let i = 0; i < 5; i++) {
      await servers.primarySql.query(`UPDATE public.awkward SET n = n + 1, t = t || E'\\t${i}' WHERE id IN (5, 200)`);
    }
    await servers.primarySql.query(`BEGIN;
      UPDATE public.awkward SET id = 3 WHERE id = 200;
      DELETE FROM public.awkward WHERE id = 6;
      INSERT INTO public.awkward VALUES (6, ${values});
      UPDATE public.awkward SET id = 400, v = E'\\\\N' WHERE id = 5;
      COMMIT`);
    await converged('public.awkward');
    const awkward = await servers.replicaSql.query<{ q: string }>("SELECT DISTINCT q FROM public.seen WHERE tbl = 'awkward'");
    assert.ok(
      awkward.rows.some((r) => r.q.startsWith('WITH moved AS')),
      `the integer-keyed table was applied in one statement: ${awkward.rows.map((r) => r.q.slice(0, 40)).join(' | ')}`,
    );
    const check = await servers.replicaSql.query<{ v: string | null; t: string | null }>(
      'SELECT v, t FROM public.awkward WHERE id IN (1, 400) ORDER BY id',
    );
    assert.deepEqual(check.rows, [
      { v: 'NULL', t: null },
      { v: '\\N', t: 'v5\t0\t1\t2\t3\t4' },
    ]);

    // 1.0 = 1.00 = 1: one key, three spellings; the replica must end with the primary's.
    await servers.primarySql.query("INSERT INTO public.nk VALUES (1.0, 'a'), (2.50, 'b')");
    await converged('public.nk');
    await servers.primarySql.query(`BEGIN;
      UPDATE public.nk SET id = 1.00, v = 'b' WHERE id = 1;
      DELETE FROM public.nk WHERE id = 2.5;
      INSERT INTO public.nk VALUES (2.5000, 'c');
      UPDATE public.nk SET id = 1 WHERE id = 1.0;
      COMMIT`);
    await converged('public.nk');
    assert.deepEqual(await tableText(servers.replicaSql, 'public.nk'), ['(1,b)', '(2.5000,c)']);
    const nk = await servers.replicaSql.query<{ q: string }>("SELECT DISTINCT q FROM public.seen WHERE tbl = 'nk'");
    assert.ok(nk.rows.length > 0);
    assert.ok(
      nk.rows.every((r) => !r.q.startsWith('WITH moved AS')),
      'the numeric-keyed table never went inline',
    );

    // Only new keys are COPYed straight in; a key the replica already holds (written there by
    // someone else) rolls the COPY back and the upsert applies the batch, with the primary's spelling.
    await servers.replicaSql.query("INSERT INTO public.nk VALUES (7, 'replica only')");
    const errorsBefore = service?.status.errorCount;
    await servers.replicaSql.query('TRUNCATE public.seen');
    await servers.primarySql.query("INSERT INTO public.nk VALUES (6, 'six'), (7.0, 'seven'), (8, 'eight')");
    await converged('public.nk');
    assert.deepEqual(await tableText(servers.replicaSql, 'public.nk'), [
      '(1,b)',
      '(2.5000,c)',
      '(6,six)',
      '(7.0,seven)',
      '(8,eight)',
    ]);
    const fallback = await servers.replicaSql.query<{ q: string }>("SELECT q FROM public.seen WHERE tbl = 'nk'");
    assert.equal(fallback.rows.length, 3, 'three rows written once each (the COPY was rolled back)');
    assert.ok(
      fallback.rows.every((r) => r.q.startsWith('INSERT')),
      fallback.rows.map((r) => r.q.slice(0, 40)).join(' | '),
    );
    assert.equal(service?.status.errorCount, errorsBefore, 'no replication error');
    await servers.replicaSql.query('TRUNCATE public.seen');
    await servers.primarySql.query("INSERT INTO public.nk VALUES (9, 'nine'), (10, 'ten')");
    await converged('public.nk');
    const fresh = await servers.replicaSql.query<{ q: string }>("SELECT DISTINCT q FROM public.seen WHERE tbl = 'nk'");
    assert.deepEqual(
      fresh.rows.map((r) => r.q.slice(0, 4)),
      ['COPY'],
      'new keys only: COPYed',
    );
    // Row-level security on the replica table: COPY FROM is refused (0A000) for a login
    // under a policy; the COPY is rolled back and the upsert, which policies allow, applies the rows.
    await servers.replicaSql.query(`ALTER TABLE public.nk ENABLE ROW LEVEL SECURITY;
      CREATE POLICY replicated ON public.nk TO ${REPLICATOR_ROLE} USING (true) WITH CHECK (true); TRUNCATE public.seen`);
    await servers.primarySql.query("INSERT INTO public.nk VALUES (11, 'eleven'), (12, 'twelve')");
    await converged('public.nk');
    const underPolicy = await servers.replicaSql.query<{ q: string }>("SELECT q FROM public.seen WHERE tbl = 'nk'");
    assert.equal(underPolicy.rows.length, 2, 'two rows written once each');
    assert.ok(
      underPolicy.rows.every((r) => r.q.startsWith('INSERT')),
      `under row-level security, upserted: ${underPolicy.rows.map((r) => r.q.slice(0, 40)).join(' | ')}`,
    );
    assert.equal(service?.status.errorCount, errorsBefore, 'no replication error under row-level security');
    await servers.replicaSql.query('ALTER TABLE public.nk DISABLE ROW LEVEL SECURITY; DROP POLICY replicated ON public.nk');

    // Past BATCH_SIZE (5000) lines: staged. Only new keys: COPYed straight in; each key once: no
    // DISTINCT ON; a key twice: sorted for its last line.
    const statements = async (kind = 'INSERT') =>
      (
        await servers.replicaSql.query<{ q: string }>(
          "SELECT DISTINCT q FROM public.seen WHERE tbl = 'awkward' AND q LIKE $1 || '%'",
          [kind],
        )
      ).rows.map((r) => r.q);
    await servers.replicaSql.query('TRUNCATE public.seen');
    await servers.primarySql.query(
      "INSERT INTO public.awkward SELECT g, 'bulk ' || g, '{}', '[]', '{\"a\"}', '\\x01', g, NULL FROM generate_series(1000, 7999) g",
    );
    await converged('public.awkward');
    assert.deepEqual(await statements(), [], 'only new keys: no upsert');
    assert.equal((await statements('COPY')).length, 1, 'only new keys: one COPY into the table');
    await servers.replicaSql.query('TRUNCATE public.seen');
    await servers.primarySql.query("UPDATE public.awkward SET v = 'once' WHERE id BETWEEN 1000 AND 7999");
    await converged('public.awkward');
    const distinct = await statements();
    assert.equal(distinct.length, 1, distinct.join(' | '));
    assert.ok(!distinct[0]?.includes('DISTINCT ON'), 'distinct keys: no sort');
    await servers.replicaSql.query('TRUNCATE public.seen');
    await servers.primarySql.query(`BEGIN;
      UPDATE public.awkward SET n = n + 1 WHERE id BETWEEN 1000 AND 7999;
      UPDATE public.awkward SET t = 'twice ' || id WHERE id BETWEEN 1000 AND 1099;
      DELETE FROM public.awkward WHERE id BETWEEN 1100 AND 1199;
      COMMIT`);
    await converged('public.awkward');
    const repeated = await statements();
    assert.equal(repeated.length, 1, repeated.join(' | '));
    assert.ok(repeated[0]?.includes('DISTINCT ON'), 'a key twice: sorted for its last line');
  });
});

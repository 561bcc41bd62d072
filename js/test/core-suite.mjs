// The checks every transport must pass (node:net TCP, WebSocket through the proxy): the sql
// template, parameters, the value mapping in both directions, errors, transactions, batches and
// the pool. `coreSuite` registers them under a `describe`; node.test.mjs and
// websocket.test.mjs call it once per server (PgBouncer, Postgres).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { ConnectionError, PostgresError } from 'edgepg';

/**
 * A variable the stack exports. Missing means the stack is not up: that is a failure, never a
 * skip (CI without its stack must not pass).
 */
export function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the suite with scripts/test-js.sh, which starts the stack (scripts/stack.sh up) and exports it`);
  }
  return value;
}

/**
 * The value mapping, one case per type: `sql` is a literal the server evaluates, `value` the
 * JS value it must come back as, `param` the JS value that, sent as `$1::type`, must equal the
 * literal (defaults to `value`). Every case also runs as NULL.
 */
export const TYPE_CASES = [
  { type: 'int2', sql: '(-32768)::int2', value: -32768 },
  { type: 'int4', sql: '2147483647::int4', value: 2147483647 },
  { type: 'oid', sql: '4294967295::oid', value: 4294967295 },
  { type: 'float4', sql: '1.5::float4', value: 1.5 },
  { type: 'float8', sql: '(-0.1)::float8', value: -0.1 },
  { type: 'float8', sql: "'Infinity'::float8", value: Infinity, label: 'float8 Infinity' },
  { type: 'float8', sql: "'NaN'::float8", value: NaN, label: 'float8 NaN' },
  { type: 'int8', sql: '9223372036854775807::int8', value: 9223372036854775807n },
  { type: 'int8', sql: '(-9007199254740993)::int8', value: -9007199254740993n, label: 'int8 beyond 2^53' },
  { type: 'numeric', sql: "'12345678901234567890.000000000000000001'::numeric", value: '12345678901234567890.000000000000000001' },
  { type: 'bool', sql: 'true', value: true },
  { type: 'bool', sql: 'false', value: false, label: 'bool false' },
  { type: 'text', sql: "E'h\\u00e9llo \\u2713 \"q\" \\\\ back\\nline\\ttab 😀'", value: 'héllo ✓ "q" \\ back\nline\ttab 😀' },
  { type: 'varchar', sql: "'var'::varchar(10)", value: 'var' },
  { type: 'char(4)', sql: "'ab'::char(4)", value: 'ab  ', param: 'ab' },
  { type: 'name', sql: "'a_name'::name", value: 'a_name' },
  { type: 'uuid', sql: "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", value: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' },
  { type: 'time', sql: "'23:59:59.999999'::time", value: '23:59:59.999999' },
  { type: 'timetz', sql: "'12:34:56.5+05:30'::timetz", value: '12:34:56.5+05:30' },
  { type: 'interval', sql: "'1 year 2 mons 3 days 04:05:06.5'::interval", value: '1 year 2 mons 3 days 04:05:06.5' },
  { type: 'inet', sql: "'10.1.2.3/8'::inet", value: '10.1.2.3/8' },
  { type: 'inet', sql: "'::1'::inet", value: '::1', label: 'inet IPv6' },
  { type: 'json', sql: `'{"a":[1,2,{"b":null}],"c":"x"}'::json`, value: { a: [1, 2, { b: null }], c: 'x' }, compareAs: 'jsonb' },
  { type: 'jsonb', sql: `'{"z":1,"a":"é\\n"}'::jsonb`, value: { a: 'é\n', z: 1 } },
  // A JS string parameter is jsonb *text*, not a JSON string: results only.
  { type: 'jsonb', sql: `'"just a string"'::jsonb`, value: 'just a string', label: 'jsonb scalar', noParam: true },
  { type: 'bytea', sql: "'\\x00ff10'::bytea", value: new Uint8Array([0, 255, 16]) },
  { type: 'bytea', sql: "''::bytea", value: new Uint8Array([]), label: 'bytea empty' },
  { type: 'date', sql: "'2024-02-29'::date", value: '2024-02-29' },
  { type: 'timestamp', sql: "'2024-01-02 03:04:05.5'::timestamp", value: '2024-01-02T03:04:05.5' },
  { type: 'timestamp', sql: "'1999-12-31 23:59:59'::timestamp", value: '1999-12-31T23:59:59', label: 'timestamp whole seconds' },
  { type: 'timestamptz', sql: "'2024-01-02 03:04:05.678+02'::timestamptz", value: new Date(Date.UTC(2024, 0, 2, 1, 4, 5, 678)) },
];

/** Table names unique to this process and label, so concurrent runs never collide. */
export function tableName(label, what) {
  return `edgepg_js_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${process.pid}_${what}`;
}

/** Asserts `promise` rejects with a `PostgresError` of SQLSTATE `code`; returns the error. */
export async function rejectsPostgres(promise, code) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected PostgresError ${code}, but it resolved`);
  assert.ok(error instanceof PostgresError, `expected PostgresError ${code}, got ${error?.name}: ${error?.message}`);
  assert.equal(error.code, code, error.message);
  return error;
}

/** Asserts `promise` rejects with a `ConnectionError` of `code`; returns the error. */
export async function rejectsConnection(promise, code) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected ConnectionError ${code}, but it resolved`);
  assert.ok(error instanceof ConnectionError, `expected ConnectionError ${code}, got ${error?.name} ${error?.code}: ${error?.message}`);
  assert.equal(error.code, code, error.message);
  return error;
}

/** Asserts the pool's next user gets a connection with no transaction open. */
export async function assertNoOpenTransaction(db) {
  // SAVEPOINT outside a transaction block is an error (25P01); inside one it succeeds.
  await rejectsPostgres(db.query('SAVEPOINT edgepg_probe'), '25P01');
}

const projectDir = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs an ES module in a fresh Node process in the test project (so it imports `edgepg` by
 * name) and reports how it ended; kills it after `limitMs`.
 */
export function runChild(code, limitMs) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      cwd: projectDir,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, elapsed: Date.now() - started });
    });
  });
}

/**
 * Registers the core checks for one server. `createPool(options)` makes a pool for that server
 * and transport (extra options merged in); `label` names the tables.
 */
export function coreSuite(label, { createPool, concurrency = 100 }) {
  describe(label, () => {
    const items = tableName(label, 'items');
    const victim = tableName(label, 'victim');
    let db;

    before(async () => {
      db = createPool({ max: 5 });
      await db.query(`DROP TABLE IF EXISTS ${items}, ${victim}`);
      await db.query(`CREATE TABLE ${items} (id int CONSTRAINT ${items}_pk PRIMARY KEY, v text NOT NULL)`);
      await db.query(`CREATE TABLE ${victim} (id int)`);
      await db.query(`INSERT INTO ${victim} VALUES (1), (2)`);
    });

    after(async () => {
      if (!db) return;
      try {
        await db.query(`DROP TABLE IF EXISTS ${items}, ${victim}`);
      } finally {
        await db.end();
      }
    });

    test('sql template: interpolations are parameters', async () => {
      const rows = await db.sql`SELECT ${1}::int AS a, ${'two'}::text AS b, ${null}::int AS c, '$1' AS lit`;
      assert.deepEqual(rows, [{ a: 1, b: 'two', c: null, lit: '$1' }]);
      const limited = await db.sql`SELECT g FROM generate_series(1, 10) g ORDER BY g LIMIT ${3}`;
      assert.deepEqual(limited, [{ g: 1 }, { g: 2 }, { g: 3 }]);
    });

    test('sql template: hostile strings round-trip and run nothing', async () => {
      const hostile = [
        "'; DROP TABLE x; --",
        `'; DROP TABLE ${victim}; --`,
        `x'); DROP TABLE ${victim}; --`,
        '$1',
        '$2 $1 $$ $$',
        "' OR '1'='1",
        '\\',
        '"',
        `$$; DROP TABLE ${victim}; $$`,
        '1; SELECT 2',
        '\u00e9\u2713😀\n\t\r',
      ];
      for (const s of hostile) {
        const rows = await db.sql`SELECT ${s}::text AS v, length(${s}::text) AS n, ${'$1'}::text AS d`;
        assert.deepEqual(rows, [{ v: s, n: [...s].length, d: '$1' }], `round trip of ${JSON.stringify(s)}`);
      }
      // Stored and read back through the template inside one transaction (a temp table that
      // only lives in it, so this works through PgBouncer's transaction mode too).
      const stored = await db.transaction(async (tx) => {
        await tx.query('CREATE TEMP TABLE edgepg_hostile (i int, v text) ON COMMIT DROP');
        for (const [i, s] of hostile.entries()) await tx.sql`INSERT INTO edgepg_hostile VALUES (${i}, ${s})`;
        return tx.sql`SELECT v, v = ${hostile[1]} AS matches FROM edgepg_hostile ORDER BY i`;
      });
      assert.deepEqual(stored.map((r) => r.v), hostile);
      assert.deepEqual(stored.map((r) => r.matches), hostile.map((_, i) => i === 1));
      const { rows: [{ exists, count }] } = await db.query(`SELECT to_regclass($1) IS NOT NULL AS exists, (SELECT count(*)::int FROM ${victim}) AS count`, [victim]);
      assert.equal(exists, true, `${victim} was dropped`);
      assert.equal(count, 2);
    });

    test('sql must be used as a tagged template', () => {
      assert.throws(() => db.sql('SELECT 1'), (e) => e instanceof ConnectionError && e.code === 'config');
    });

    test('query: params, fields, command, rowCount', async () => {
      const insert = await db.query(`INSERT INTO ${items} (id, v) VALUES ($1, $2), ($3, $4)`, [100, 'a', 101, 'b']);
      assert.equal(insert.command, 'INSERT');
      assert.equal(insert.rowCount, 2);
      assert.deepEqual(insert.rows, []);

      const update = await db.query(`UPDATE ${items} SET v = v || $1 WHERE id >= $2`, ['!', 100]);
      assert.deepEqual([update.command, update.rowCount], ['UPDATE', 2]);

      const select = await db.query(`SELECT id, v FROM ${items} WHERE id = ANY($1::int[]) ORDER BY id`, [[100, 101]]);
      assert.equal(select.command, 'SELECT');
      assert.equal(select.rowCount, 2);
      assert.deepEqual(select.rows, [{ id: 100, v: 'a!' }, { id: 101, v: 'b!' }]);
      assert.deepEqual(select.fields.map((f) => [f.name, f.dataTypeID, f.columnID]), [['id', 23, 1], ['v', 25, 2]]);
      assert.ok(select.fields.every((f) => f.tableID > 0), 'tableID names the source table');

      const del = await db.query(`DELETE FROM ${items} WHERE id >= $1`, [100]);
      assert.deepEqual([del.command, del.rowCount], ['DELETE', 2]);
      const none = await db.query(`DELETE FROM ${items} WHERE id = $1`, [-1]);
      assert.equal(none.rowCount, 0);
    });

    test('query: rowMode array keeps column order and duplicate names', async () => {
      const r = await db.query("SELECT 1 AS a, 'x'::text AS a, $1::int8 AS b, NULL::int AS c", [5], { rowMode: 'array' });
      assert.deepEqual(r.rows, [[1, 'x', 5n, null]]);
      assert.deepEqual(r.fields.map((f) => f.name), ['a', 'a', 'b', 'c']);
      const objects = await db.query('SELECT 1 AS a, 2 AS b', [], { rowMode: 'object' });
      assert.deepEqual(objects.rows, [{ a: 1, b: 2 }]);
    });

    test('query: object rows keep odd names as own keys, the last of a repeated name wins', async () => {
      const sql = `SELECT 1 AS a, 2 AS "__proto__", 3 AS "0", 4 AS " ", 5 AS "a b""c", 6 AS "constructor", 7 AS a, $1::timestamptz AS t`;
      const [row] = (await db.query(sql, ['2024-01-01T00:00:00Z'])).rows;
      assert.equal(Object.getPrototypeOf(row), Object.prototype, '__proto__ is a key, not the prototype');
      assert.deepEqual(Object.keys(row), ['0', 'a', '__proto__', ' ', 'a b"c', 'constructor', 't']);
      assert.deepEqual(Object.values(row).slice(0, 6), [3, 7, 2, 4, 5, 6]);
      assert.ok(row.t instanceof Date && row.t.getTime() === Date.UTC(2024, 0, 1));
    });

    test('types: every mapped type as a result', async () => {
      for (const c of TYPE_CASES) {
        const [row] = await db.query(`SELECT ${c.sql} AS v`).then((r) => r.rows);
        assertValue(row.v, c.value, `${c.label ?? c.type} result`);
      }
    });

    test('types: every mapped type as a parameter', async () => {
      for (const c of TYPE_CASES) {
        if (c.noParam) continue;
        const param = 'param' in c ? c.param : c.value;
        // json has no equality operator: such cases compare as compareAs.
        const cmp = c.compareAs ? `::${c.compareAs}` : '';
        const { rows } = await db.query(`SELECT $1::${c.type} AS v, $1::${c.type}${cmp} IS NOT DISTINCT FROM (${c.sql})${cmp} AS eq`, [param]);
        assert.equal(rows[0].eq, true, `${c.label ?? c.type} parameter ${String(param)} equals ${c.sql} on the server`);
        assertValue(rows[0].v, c.value, `${c.label ?? c.type} parameter round trip`);
      }
      // Plain JS numbers into wider or exact types, and strings into numbers.
      const { rows } = await db.query('SELECT $1::int8 AS a, $2::numeric AS b, $3::float8 AS c, $4::int4 AS d, $5::date AS e', [
        42, 0.1 + 0.2, 1e21, '17', new Date(Date.UTC(2024, 5, 1)),
      ]);
      assert.deepEqual(rows, [{ a: 42n, b: '0.30000000000000004', c: 1e21, d: 17, e: '2024-06-01' }]);
    });

    test('types: timestamptz is the same instant in any session time zone', async () => {
      const instant = new Date(Date.UTC(2024, 0, 2, 1, 4, 5, 678));
      const rows = await db.transaction(async (tx) => {
        await tx.query("SET LOCAL TimeZone = 'Asia/Kolkata'");
        return tx.sql`SELECT '2024-01-02 03:04:05.678+02'::timestamptz AS t, ${instant}::timestamptz AS p, ${instant}::timestamptz::text AS s`;
      });
      assert.ok(rows[0].t instanceof Date && rows[0].p instanceof Date);
      assert.equal(rows[0].t.getTime(), instant.getTime());
      assert.equal(rows[0].p.getTime(), instant.getTime());
      assert.equal(rows[0].s, '2024-01-02 06:34:05.678+05:30');
    });

    test('NULL of every type, as a result and as null/undefined parameters', async () => {
      for (const c of TYPE_CASES) {
        const { rows } = await db.query(`SELECT NULL::${c.type} AS r, $1::${c.type} AS p, $2::${c.type} AS u, $1::${c.type} IS NULL AS isnull`, [null, undefined]);
        assert.deepEqual(rows, [{ r: null, p: null, u: null, isnull: true }], c.type);
      }
    });

    test('arrays as results: nested, with NULLs, of every kind', async () => {
      const [row] = await db.sql`SELECT
        ARRAY[[1,2],[3,NULL]]::int4[] AS nested,
        '{{{1}},{{2}}}'::int[] AS deep,
        ARRAY['a', NULL, 'b"c', 'd\\e', 'NULL', '', 'x,y', '{z}']::text[] AS texts,
        ARRAY[1, NULL, 9223372036854775807]::int8[] AS bigs,
        ARRAY[true, false, NULL] AS bools,
        ARRAY[1.5, 'NaN', '-Infinity']::float8[] AS floats,
        ARRAY[1.1, NULL]::numeric[] AS numerics,
        ARRAY['\\x01ff'::bytea, NULL] AS bytes,
        ARRAY['2024-01-01 00:00:00+00'::timestamptz, NULL] AS instants,
        ARRAY['2024-01-01'::date] AS dates,
        ARRAY['{"a":1}'::jsonb, NULL] AS docs,
        ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid] AS uuids,
        '{}'::int[] AS empty,
        NULL::int[] AS nothing`;
      assert.deepEqual(row, {
        nested: [[1, 2], [3, null]],
        deep: [[[1]], [[2]]],
        texts: ['a', null, 'b"c', 'd\\e', 'NULL', '', 'x,y', '{z}'],
        bigs: [1n, null, 9223372036854775807n],
        bools: [true, false, null],
        floats: [1.5, NaN, -Infinity],
        numerics: ['1.1', null],
        bytes: [new Uint8Array([1, 255]), null],
        instants: [new Date(Date.UTC(2024, 0, 1)), null],
        dates: ['2024-01-01'],
        docs: [{ a: 1 }, null],
        uuids: ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
        empty: [],
        nothing: null,
      });
    });

    test('arrays as parameters: nested, with NULLs, of every kind', async () => {
      const texts = ['a', null, 'b"c', 'd\\e', 'NULL', '', 'x,y', '{z}', "'; DROP TABLE x; --"];
      const { rows } = await db.query(
        `SELECT $1::int4[] AS nested, $1::int4[] = ARRAY[[1,2],[NULL,4]] AS nested_eq,
                $2::text[] AS texts, array_length($2::text[], 1) AS texts_len, ($2::text[])[2] IS NULL AS second_null,
                ($2::text[])[5] = 'NULL' AS fifth_is_string,
                $3::int8[] AS bigs, $4::bool[] AS bools, $5::timestamptz[] AS instants, $6::bytea[] AS bytes,
                $7::jsonb[] AS docs, $8::int[] AS empty, $9::float8[] AS floats`,
        [
          [[1, 2], [null, 4]],
          texts,
          [1n, null, 9007199254740993n],
          [true, false, null],
          [new Date(0), null],
          [new Uint8Array([1, 2]), new Uint8Array([])],
          [{ a: 1 }, { b: 'x"y\\' }],
          [],
          [1.5, NaN, -Infinity],
        ],
      );
      assert.deepEqual(rows[0], {
        nested: [[1, 2], [null, 4]],
        nested_eq: true,
        texts,
        texts_len: texts.length,
        second_null: true,
        fifth_is_string: true,
        bigs: [1n, null, 9007199254740993n],
        bools: [true, false, null],
        instants: [new Date(0), null],
        bytes: [new Uint8Array([1, 2]), new Uint8Array([])],
        docs: [{ a: 1 }, { b: 'x"y\\' }],
        empty: [],
        floats: [1.5, NaN, -Infinity],
      });
    });

    test('values in their less common text forms', async () => {
      const row = await db.transaction(async (tx) => {
        await tx.query("SET LOCAL bytea_output = 'escape'");
        const { rows } = await tx.query(`SELECT
          '\\x00ff41'::bytea AS escaped, ARRAY['\\x0102'::bytea, NULL] AS escaped_array,
          'a'::"char" AS c, convert_from('\\xc3a9', 'UTF8')::"char" AS high_c, ''::"char" AS empty_c,
          '0044-03-15 12:00:00 BC'::timestamp AS bc, 'infinity'::timestamp AS inf,
          '-infinity'::timestamptz AS neg_inf,
          '[0:1]={5,6}'::int[] AS bounded,
          ARRAY['2024-01-02 03:04:05'::timestamp, NULL] AS stamps,
          ARRAY['infinity'::timestamptz, '2024-01-01 00:00:00+00'] AS instants,
          ARRAY['a'::"char", 'b'] AS chars,
          ARRAY['1 day'::interval, '-00:00:01'] AS intervals,
          ARRAY[1.5::float4, 'NaN', '-Infinity'] AS float4s,
          ARRAY['{"a":[1]}'::jsonb, 'null', '"s"'] AS docs,
          ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid] AS uuids,
          ARRAY[true, NULL, false] AS bools`);
        return rows[0];
      });
      assert.deepEqual(row, {
        escaped: new Uint8Array([0, 255, 65]),
        escaped_array: [new Uint8Array([1, 2]), null],
        c: 'a',
        high_c: '\\303',
        empty_c: '',
        bc: '0044-03-15T12:00:00 BC',
        inf: 'infinity',
        neg_inf: '-infinity',
        bounded: [5, 6],
        stamps: ['2024-01-02T03:04:05', null],
        instants: ['infinity', new Date(Date.UTC(2024, 0, 1))],
        chars: ['a', 'b'],
        intervals: ['1 day', '-00:00:01'],
        float4s: [1.5, NaN, -Infinity],
        docs: [{ a: [1] }, null, 's'],
        uuids: ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
        bools: [true, null, false],
      });
    });

    test('numbers as parameters: spelled as String(n) does, read back exactly', async () => {
      const numbers = [1e-7, 1e21, 0.1 + 0.2, -0, 5e-324, Number.MAX_VALUE, 123456789012];
      const { rows } = await db.query(
        `SELECT x::float8 AS f, x::numeric::text AS n, x AS t
           FROM unnest($1::text[]) WITH ORDINALITY AS u(x, i) ORDER BY i`, [numbers]);
      assert.deepEqual(rows.map((r) => r.f), numbers);
      assert.deepEqual(rows.map((r) => r.t), ['1e-7', '1e+21', '0.30000000000000004', '-0', '5e-324', '1.7976931348623157e+308', '123456789012']);
      assert.equal(rows[0].n, '0.0000001');
      assert.equal(rows[1].n, '1000000000000000000000');
      const [one] = (await db.query('SELECT $1::float8 AS a, $2::numeric AS b, $3::int8 AS c', [1e-7, 2.5e-3, 2 ** 53])).rows;
      assert.deepEqual(one, { a: 1e-7, b: '0.0025', c: 2n ** 53n });
    });

    test('json: plain objects as parameters', async () => {
      const doc = { n: null, s: 'é\n"\'', nested: { arr: [1, 'two', { three: true }] }, big: 1e300 };
      const { rows } = await db.query("SELECT $1::jsonb AS b, $1::json AS j, ($1::jsonb)->'nested'->'arr'->>1 AS two, $1::jsonb @> '{\"n\":null}' AS has_n", [doc]);
      assert.deepEqual(rows, [{ b: doc, j: doc, two: 'two', has_n: true }]);
    });

    test('errors: a unique violation carries every field', async () => {
      await db.query(`INSERT INTO ${items} (id, v) VALUES (1, 'one') ON CONFLICT DO NOTHING`);
      const e = await rejectsPostgres(on(db, items)`INSERT INTO @T (id, v) VALUES (${1}, ${'again'})`, '23505');
      assert.ok(e instanceof Error);
      assert.equal(e.name, 'PostgresError');
      assert.equal(e.severity, 'ERROR');
      assert.equal(e.constraint, `${items}_pk`);
      assert.equal(e.table, items);
      assert.equal(e.schema, 'public');
      assert.equal(e.detail, 'Key (id)=(1) already exists.');
      assert.match(e.message, /duplicate key value violates unique constraint/);
      assert.equal(typeof e.routine, 'string');
    });

    test('errors: position, column, hint, where', async () => {
      const bad = 'SELECT 1 + FROM edgepg_no_such_table';
      const syntax = await rejectsPostgres(db.query(bad), '42601');
      assert.equal(syntax.position, bad.indexOf('FROM') + 1);
      const missing = await rejectsPostgres(db.query('SELECT * FROM edgepg_no_such_table'), '42P01');
      assert.equal(missing.position, 15);

      const notNull = await rejectsPostgres(db.query(`INSERT INTO ${items} (id, v) VALUES ($1, $2)`, [2, null]), '23502');
      assert.equal(notNull.column, 'v');
      assert.equal(notNull.table, items);

      const raised = await rejectsPostgres(
        db.query("DO $$ BEGIN RAISE EXCEPTION 'custom failure' USING DETAIL = 'the detail', HINT = 'the hint', ERRCODE = 'P0001'; END $$"),
        'P0001',
      );
      assert.deepEqual([raised.message, raised.detail, raised.hint], ['custom failure', 'the detail', 'the hint']);
      assert.match(raised.where, /PL\/pgSQL/);

      await rejectsPostgres(db.query('SELECT 1 / $1::int', [0]), '22012');
      await rejectsPostgres(db.query('SELECT $1::int', ['not a number']), '22P02');
      await rejectsPostgres(db.query('SELECT $1::int, $2::int', [1]), '08P01');
    });

    test('errors: unsupported parameters are rejected before sending', async () => {
      for (const bad of [Symbol('s'), () => 1, new Date('invalid')]) {
        await rejectsConnection(db.query('SELECT $1::text', [bad]), 'encode');
      }
    });

    test('errors leave the pool usable and discard nothing', async () => {
      const before = db.stats();
      for (let i = 0; i < 5; i++) await rejectsPostgres(db.query('SELECT 1/0'), '22012');
      assert.deepEqual(await db.sql`SELECT 1 AS ok`, [{ ok: 1 }]);
      assert.equal(db.stats().discarded, before.discarded);
    });

    test('transaction: commits when the callback resolves', async () => {
      const result = await db.transaction(async (tx) => {
        const ins = await tx.query(`INSERT INTO ${items} (id, v) VALUES ($1, $2)`, [200, 'committed']);
        assert.equal(ins.rowCount, 1);
        const [row] = await tx.sql`SELECT txid_current_if_assigned() IS NOT NULL AS in_tx`;
        return row.in_tx;
      });
      assert.equal(result, true);
      const { rows } = await db.query(`SELECT v FROM ${items} WHERE id = $1`, [200]);
      assert.deepEqual(rows, [{ v: 'committed' }]);
    });

    test('transaction: a throw inside rolls back and rethrows it', async () => {
      const tx1 = createPool({ max: 1 });
      try {
        const boom = new Error('boom');
        await assert.rejects(
          tx1.transaction(async (tx) => {
            await tx.query(`INSERT INTO ${items} (id, v) VALUES ($1, $2)`, [201, 'rolled back']);
            throw boom;
          }),
          (e) => e === boom,
        );
        assert.deepEqual((await tx1.query(`SELECT v FROM ${items} WHERE id = $1`, [201])).rows, []);
        await assertNoOpenTransaction(tx1);

        // A failing statement rolls back too, and rejects with its PostgresError.
        await rejectsPostgres(
          tx1.transaction(async (tx) => {
            await tx.query(`INSERT INTO ${items} (id, v) VALUES ($1, $2)`, [202, 'rolled back']);
            await tx.sql`SELECT 1/0`;
          }),
          '22012',
        );
        assert.deepEqual((await tx1.query(`SELECT v FROM ${items} WHERE id = $1`, [202])).rows, []);
        await assertNoOpenTransaction(tx1);

        // A failed statement whose error the callback swallows: the commit cannot succeed.
        await assert.rejects(
          tx1.transaction(async (tx) => {
            await tx.query(`INSERT INTO ${items} (id, v) VALUES ($1, $2)`, [203, 'rolled back']);
            try {
              await tx.sql`SELECT 1/0`;
            } catch {
              // ignored on purpose
            }
            return 'ok';
          }),
          (e) => e instanceof ConnectionError && e.code === 'aborted',
        );
        assert.deepEqual((await tx1.query(`SELECT v FROM ${items} WHERE id = $1`, [203])).rows, []);
        await assertNoOpenTransaction(tx1);
        assert.equal(tx1.stats().busy, 0);
      } finally {
        await tx1.end();
      }
    });

    test('transaction: the handle is unusable after the callback', async () => {
      let saved;
      await db.transaction(async (tx) => {
        saved = tx;
      });
      // Expected: an edgepg error that says what to do, not a wasm-bindgen internal.
      await assert.rejects(saved.query('SELECT 1'), (e) => e instanceof ConnectionError);
    });

    test('batch: one round trip, rows per statement', async () => {
      const one = createPool({ max: 1 });
      try {
        await one.sql`SELECT 1`; // the handshake's round trips are counted here
        const before = one.stats().roundTrips;
        const results = await one.batch([
          one.sql`SELECT ${1}::int AS a`,
          one.sql`SELECT ${'b'}::text AS b, ${2n}::int8 AS c`,
          one.sql`SELECT g FROM generate_series(1, ${3}::int) g`,
        ]);
        assert.deepEqual(results, [[{ a: 1 }], [{ b: 'b', c: 2n }], [{ g: 1 }, { g: 2 }, { g: 3 }]]);
        assert.equal(one.stats().roundTrips - before, 1, 'three statements, one round trip');
        assert.deepEqual(await one.batch([]), []);
      } finally {
        await one.end();
      }
    });

    test('a large result crosses in parts: every row, in order, converted, in both row modes', async () => {
      // ~30k rows of ~100 bytes of JSON: several parts of the wasm's bulk output, each row
      // with a value of every converted kind (bigint, Date, bytes, non-finite float).
      const n = 30000;
      const query = `SELECT g AS n, g::int8 * 3000000000 AS big,
          '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second' AS at,
          decode(lpad(to_hex(g), 8, '0'), 'hex') AS raw,
          CASE WHEN g % 1000 = 0 THEN 'NaN'::float8 ELSE g / 4.0 END AS f,
          ARRAY[g, NULL, -g] AS arr, repeat('x', g % 7) AS pad
        FROM generate_series(1, ${n}) g`;
      const check = (row, i, get) => {
        const g = i + 1;
        assert.equal(get(row, 'n', 0), g);
        assert.equal(get(row, 'big', 1), BigInt(g) * 3000000000n);
        assert.equal(get(row, 'at', 2).getTime(), Date.UTC(2024, 0, 1) + g * 1000);
        assert.deepEqual(get(row, 'raw', 3), new Uint8Array([g >>> 24, (g >>> 16) & 255, (g >>> 8) & 255, g & 255]));
        if (g % 1000 === 0) assert.ok(Number.isNaN(get(row, 'f', 4)));
        else assert.equal(get(row, 'f', 4), g / 4);
        assert.deepEqual(get(row, 'arr', 5), [g, null, -g]);
        assert.equal(get(row, 'pad', 6), 'x'.repeat(g % 7));
      };
      const objects = await db.query(query);
      assert.equal(objects.rows.length, n);
      assert.equal(objects.rowCount, n);
      assert.deepEqual(objects.fields.map((f) => f.name), ['n', 'big', 'at', 'raw', 'f', 'arr', 'pad']);
      objects.rows.forEach((row, i) => check(row, i, (r, k) => r[k]));
      const arrays = await db.query(query, [], { rowMode: 'array' });
      assert.equal(arrays.rows.length, n);
      arrays.rows.forEach((row, i) => check(row, i, (r, _k, j) => r[j]));
      // bytea values share one buffer per part, cut in value order: NULLs, empty values, arrays
      // of bytea and several bytea columns keep every row's bytes its own. Small values are
      // views into shared copies of at most 8 KiB (as Node pools small Buffers); larger ones
      // (`big`, 5000 bytes) own their buffer.
      const bytes = (g) => new Uint8Array([(g >>> 8) & 255, g & 255]);
      const bigOf = (g) => (g % 1000 === 0 ? new Uint8Array(5000).fill(g % 256) : null);
      const byteaQuery = `SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE decode(lpad(to_hex(g), 4, '0'), 'hex') END AS a,
          ''::bytea AS e, ARRAY[decode('ff', 'hex'), NULL, decode(lpad(to_hex(g), 4, '0'), 'hex')] AS arr,
          decode(lpad(to_hex(g + 1), 4, '0'), 'hex') AS b,
          CASE WHEN g % 1000 = 0 THEN decode(repeat(lpad(to_hex(g % 256), 2, '0'), 5000), 'hex') END AS big
        FROM generate_series(1, ${n}) g`;
      const owned = (v) => v.byteOffset === 0 && v.buffer.byteLength === v.length;
      for (const rowMode of ['object', 'array']) {
        const { rows } = await db.query(byteaQuery, [], { rowMode });
        assert.equal(rows.length, n);
        const parts = rowMode === 'array' ? rows : rows.map((r) => [r.g, r.a, r.e, r.arr, r.b, r.big]);
        // Writing into one value changes no other value.
        parts[0][1].fill(0);
        parts[0][4].fill(0);
        parts.forEach(([g, a, e, arr, b, big], i) => {
          assert.equal(g, i + 1);
          if (g > 1) {
            assert.deepEqual(a, g % 3 === 0 ? null : bytes(g), `row ${g} a`);
            assert.deepEqual(b, bytes(g + 1));
          }
          assert.deepEqual(e, new Uint8Array(0));
          assert.deepEqual(arr, [new Uint8Array([255]), null, bytes(g)]);
          assert.deepEqual(big, bigOf(g), `row ${g} big`);
          if (big) assert.ok(owned(big), `row ${g}: a large value owns its buffer`);
          for (const v of [a, b, arr[0], arr[2]]) if (v) assert.ok(v.buffer.byteLength <= 8192, `row ${g}: a small value keeps at most 8 KiB alive`);
        });
      }
      const [first, second] = await db.batch([db.sql`SELECT g FROM generate_series(1, ${n}) g`, db.sql`SELECT 1 AS one`]);
      assert.equal(first.length, n);
      assert.ok(first.every((r, i) => r.g === i + 1));
      assert.deepEqual(second, [{ one: 1 }]);
      // Inside a transaction too.
      const inTx = await db.transaction(async (tx) => tx.query(`SELECT g FROM generate_series(1, ${n}) g`));
      assert.equal(inTx.rows.length, n);
      assert.ok(inTx.rows.every((r, i) => r.g === i + 1));
      // A statement failing after many rows arrived rejects cleanly; the pool goes on.
      await assert.rejects(
        db.query(`SELECT g, 1 / (g - ${n - 100}) AS boom, repeat('x', 50) AS pad FROM generate_series(1, ${n}) g`),
        (e) => e instanceof PostgresError && e.code === '22012',
      );
      assert.deepEqual(await db.sql`SELECT 2 AS two`, [{ two: 2 }]);
    });

    test('batch: atomic, an error in the 2nd statement undoes the 1st', async () => {
      const one = createPool({ max: 1 });
      try {
        const insert = (id) => on(one, items)`INSERT INTO @T (id, v) VALUES (${id}, ${'batch'})`;
        await rejectsPostgres(
          one.batch([insert(300), one.sql`SELECT 1/0`, insert(301)]),
          '22012',
        );
        await rejectsPostgres(one.batch([insert(302), insert(302)]), '23505');
        const { rows } = await one.query(`SELECT id FROM ${items} WHERE id BETWEEN 300 AND 399`);
        assert.deepEqual(rows, []);
        await assertNoOpenTransaction(one);
        // And a good batch commits.
        await one.batch([insert(303), insert(304)]);
        const after = await one.query(`SELECT id FROM ${items} WHERE id BETWEEN 300 AND 399 ORDER BY id`);
        assert.deepEqual(after.rows, [{ id: 303 }, { id: 304 }]);
      } finally {
        await one.end();
      }
    });

    test(`pool: same object for equal arguments, reuse, ${concurrency} concurrent queries`, async () => {
      const options = { max: 4, idleTimeoutMs: 20_000 };
      const pool = createPool({ ...options });
      try {
        assert.equal(createPool({ ...options }), pool, 'equal arguments give the same pool');
        const other = createPool({ ...options, max: 3 });
        assert.notEqual(other, pool, 'different options give another pool');
        await other.end();

        await pool.sql`SELECT 1`;
        const first = pool.stats();
        await pool.sql`SELECT 1`;
        await pool.sql`SELECT 1`;
        const second = pool.stats();
        assert.ok(second.reused >= first.reused + 2, `reused grows: ${first.reused} → ${second.reused}`);
        assert.equal(second.created, first.created, 'sequential queries reuse one connection');

        const results = await Promise.all(
          Array.from({ length: concurrency }, (_, i) => pool.sql`SELECT ${i}::int AS i, ${`v${i}`}::text AS v FROM pg_sleep(0.002)`),
        );
        results.forEach((rows, i) => assert.deepEqual(rows, [{ i, v: `v${i}` }]));
        const s = pool.stats();
        assert.equal(s.max, 4);
        assert.ok(s.created <= 4, `created ${s.created} <= max 4`);
        assert.ok(s.open <= 4, `open ${s.open} <= max 4`);
        assert.equal(s.busy, 0);
        assert.equal(s.waiting, 0);
        assert.ok(s.reused >= concurrency + 3 - s.created, `reused ${s.reused}`);
      } finally {
        await pool.end();
      }
      // end() forgets the pool: equal arguments now give a fresh, working one.
      const again = createPool({ ...options });
      try {
        assert.notEqual(again, pool);
        assert.deepEqual(await again.sql`SELECT 2 AS two`, [{ two: 2 }]);
        await rejectsConnection(pool.sql`SELECT 1`, 'pool_closed');
      } finally {
        await again.end();
      }
    });
  });
}

/**
 * `db.sql` with the identifier `table` written where a template says `@T` (identifiers cannot
 * be parameters; the tables here are named per process). Still the real tagged template.
 */
export function on(db, table) {
  return (strings, ...values) => {
    const parts = strings.map((s) => s.replaceAll('@T', table));
    return db.sql(Object.assign(parts, { raw: parts }), ...values);
  };
}

/** Compares one decoded value, with NaN, Dates and bytes handled exactly. */
function assertValue(actual, expected, what) {
  if (expected instanceof Date) {
    assert.ok(actual instanceof Date, `${what}: expected a Date, got ${typeof actual} ${actual}`);
    assert.equal(actual.getTime(), expected.getTime(), what);
  } else {
    assert.deepEqual(actual, expected, what);
  }
}

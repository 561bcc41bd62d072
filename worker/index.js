// The edgepg demo Worker: plain user code on Cloudflare Workers (JavaScript, no build step).
//
//   npx wrangler dev            (wrangler.toml at the repo root; DATABASE_URL in [vars])
//
// `createPool` is called right in the handler: equal arguments return the same pool for the
// whole isolate, so the pool object, its parsed config and what it learned from earlier
// handshakes (the SCRAM keys) outlive the request. Sockets do not: workerd closes a request's
// sockets when it ends, and the pool replaces them with fresh ones on the next request by
// itself. `/cached` shows the other common pattern, a pool kept in a module variable.
//
// Routes (all JSON):
//   /          a read through PgBouncer: current_user, version(), now()
//   /cached    the same read, on a pool cached in module scope on the first request
//   /direct    the same read against PostgreSQL itself (DIRECT_DATABASE_URL)
//   /hyperdrive the same read through a Hyperdrive binding (env.HYPERDRIVE.connectionString)
//   /types     every type mapping, as results and as parameters (bigint as a string)
//   /tx        a write inside db.transaction; ?fail=1 throws after the insert (rolled back)
//   /count     the demo table's row count
//   /batch     db.batch: several statements, one round trip, one transaction
//   /error     a failing query → 500 {error: {name, code, message}}; ?kind=syntax|tx|auth
//              (auth: &target=bouncer|direct&password=…, a wrong password)
//   /stats     db.stats() of both pools, with the pools' ids and the isolate's
//   /sleep     ?ms=&target=bouncer|direct: pg_sleep, for concurrency tests
//   /health    no database: is the Worker up
//   ?pool=new on /, /direct: a throwaway pool for this request only (nothing learned yet)

import { ConnectionError, createPool, PostgresError } from 'edgepg';

const TABLE = 'edgepg_workers_demo';

// Isolate-wide state. Random values cannot be made at module scope in Workers (global scope
// allows no I/O, timers or randomness), so ids are given out on first use in a request.
const isolate = { id: '', requests: 0, startedAt: '' };
// A random id per pool object, given when this code first sees it (the moment createPool made
// it): if createPool ever handed out a new object for the same URL, its id would change.
const poolIds = new WeakMap();
let cachedPool;
let throwaway = 0;

export default {
  async fetch(request, env) {
    if (!isolate.id) {
      isolate.id = crypto.randomUUID();
      isolate.startedAt = new Date().toISOString();
    }
    isolate.requests++;
    const url = new URL(request.url);
    try {
      const route = routes[url.pathname];
      if (!route) return json({ error: { name: 'NotFound', message: `no route ${url.pathname}` } }, 404);
      return json(await route(env, url));
    } catch (e) {
      return json({ error: describeError(e) }, 500);
    }
  },
};

const routes = {
  async '/'(env, url) {
    return read(env.DATABASE_URL, url);
  },

  async '/direct'(env, url) {
    return read(env.DIRECT_DATABASE_URL, url);
  },

  // A Hyperdrive binding: its connectionString is used like any URL. Under wrangler dev the
  // binding's localConnectionString (wrangler.toml) points at the local PgBouncer.
  async '/hyperdrive'(env, url) {
    if (!env.HYPERDRIVE) throw new Error('no HYPERDRIVE binding');
    return read(env.HYPERDRIVE.connectionString, url);
  },

  async '/cached'(env) {
    cachedPool ??= createPool(env.DATABASE_URL);
    const started = Date.now();
    const [row] = await cachedPool.sql`SELECT current_user AS "user", now() AS now`;
    return {
      ...row,
      ms: Date.now() - started,
      // createPool with the same URL returns the very pool cached here.
      sameAsCreatePool: cachedPool === createPool(env.DATABASE_URL),
      pool: describePool(cachedPool),
      isolate,
    };
  },

  async '/types'(env) {
    const db = createPool(env.DATABASE_URL);
    const [values] = await db.sql`
      SELECT (-32768)::int2 AS int2, 2147483647::int4 AS int4, 4294967295::oid AS oid,
             9223372036854775807::int8 AS int8, (-9007199254740993)::int8 AS int8_beyond_2_53,
             1.5::float4 AS float4, (-0.1)::float8 AS float8, 'Infinity'::float8 AS float8_inf,
             'NaN'::float8 AS float8_nan,
             '12345678901234567890.000000000000000001'::numeric AS numeric,
             true AS bool, 'héllo ✓ "q" \\ back' || chr(10) || 'line 😀' AS text, 'var'::varchar(10) AS varchar,
             'ab'::char(4) AS bpchar, 'a_name'::name AS name,
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS uuid,
             '2024-02-29'::date AS date, '23:59:59.999999'::time AS time,
             '12:34:56.5+05:30'::timetz AS timetz,
             '2024-01-02 03:04:05.5'::timestamp AS timestamp,
             '2024-01-02 03:04:05.678+02'::timestamptz AS timestamptz,
             '1 year 2 mons 3 days 04:05:06.5'::interval AS interval,
             '10.1.2.3/8'::inet AS inet,
             '{"a":[1,2,{"b":null}],"c":"x"}'::json AS json, '{"z":1,"a":"é"}'::jsonb AS jsonb,
             '\\x00ff10'::bytea AS bytea,
             ARRAY[1, NULL, 3]::int4[] AS int4_array, ARRAY['a', NULL, 'c "q"'] AS text_array,
             ARRAY[9007199254740993]::int8[] AS int8_array,
             NULL::int4 AS null_int4, NULL::text AS null_text`;
    // JS values sent as parameters; the server compares each with the literal it must equal.
    const [params] = await db.sql`
      SELECT ${9223372036854775807n}::int8 = 9223372036854775807 AS int8,
             ${42}::int4 = 42 AS int4, ${-0.1}::float8 = -0.1 AS float8,
             ${'12345678901234567890.000000000000000001'}::numeric
               = '12345678901234567890.000000000000000001'::numeric AS numeric,
             ${true}::bool AS bool, ${'héllo ✓'}::text = 'héllo ✓' AS text,
             ${new Uint8Array([0, 255, 16])}::bytea = '\\x00ff10'::bytea AS bytea,
             ${new Date(Date.UTC(2024, 0, 2, 1, 4, 5, 678))}::timestamptz
               = '2024-01-02 03:04:05.678+02'::timestamptz AS timestamptz,
             ${{ a: [1, 2], b: null }}::jsonb = '{"a":[1,2],"b":null}'::jsonb AS jsonb,
             ${[1, null, 3]}::int4[] = ARRAY[1, NULL, 3]::int4[] IS NOT FALSE AS int4_array,
             ${null}::int4 IS NULL AS null_param`;
    const { rows: arrayRows } = await db.query('SELECT 1::int4 AS a, $1::text AS b', ['two'], { rowMode: 'array' });
    const jsTypes = {};
    for (const [name, value] of Object.entries(values)) jsTypes[name] = typeName(value);
    return { values, jsTypes, params, arrayRow: arrayRows[0], pool: describePool(db) };
  },

  async '/tx'(env, url) {
    const db = createPool(env.DATABASE_URL);
    const fail = url.searchParams.get('fail') === '1';
    const note = url.searchParams.get('note') ?? 'hello from a Worker';
    await ensureTable(db);
    const result = await db.transaction(async (tx) => {
      const { rows: [inserted] } = await tx.query(`INSERT INTO ${TABLE} (note) VALUES ($1) RETURNING id`, [note]);
      if (fail) throw new Error(`rolled back on purpose after inserting row ${inserted.id}`);
      const { rows: [{ count }] } = await tx.query(`SELECT count(*)::int AS count FROM ${TABLE}`);
      return { id: inserted.id, count };
    });
    return { ...result, pool: describePool(db) };
  },

  async '/count'(env) {
    const db = createPool(env.DATABASE_URL);
    await ensureTable(db);
    const { rows: [{ count }] } = await db.query(`SELECT count(*)::int AS count FROM ${TABLE}`);
    return { count };
  },

  async '/batch'(env) {
    const db = createPool(env.DATABASE_URL);
    const results = await db.batch([
      db.sql`SELECT 1::int AS one`,
      db.sql`SELECT ${'two'}::text AS two`,
      db.sql`SELECT generate_series(1, 3) AS n`,
    ]);
    return { results, pool: describePool(db) };
  },

  async '/error'(env, url) {
    const kind = url.searchParams.get('kind') ?? 'division';
    const db = createPool(env.DATABASE_URL);
    if (kind === 'division') await db.sql`SELECT 1 / ${0}::int AS boom`;
    if (kind === 'syntax') await db.query('SELEC nothing');
    if (kind === 'tx') {
      await db.transaction(async (tx) => {
        await tx.sql`SELECT 1`;
        await tx.sql`SELECT * FROM edgepg_no_such_table`;
      });
    }
    if (kind === 'auth') {
      // A URL with the wrong password (?target=bouncer|direct): the error must not echo it.
      const target = url.searchParams.get('target') === 'bouncer' ? env.DATABASE_URL : env.DIRECT_DATABASE_URL;
      const bad = new URL(target);
      bad.password = url.searchParams.get('password') ?? 'not-the-password';
      const db = createPool(bad.toString(), { max: 1 });
      try {
        await db.sql`SELECT 1`;
      } finally {
        await db.end();
      }
    }
    return { error: null, note: `kind ${kind} did not fail` };
  },

  async '/stats'(env) {
    const bouncer = createPool(env.DATABASE_URL);
    const direct = createPool(env.DIRECT_DATABASE_URL);
    return { bouncer: describePool(bouncer), direct: describePool(direct), cached: cachedPool ? describePool(cachedPool) : null, isolate };
  },

  async '/sleep'(env, url) {
    const ms = Math.min(Math.max(Number(url.searchParams.get('ms') ?? 100) || 0, 0), 10_000);
    const target = url.searchParams.get('target') === 'direct' ? env.DIRECT_DATABASE_URL : env.DATABASE_URL;
    const db = createPool(target);
    const started = Date.now();
    const [row] = await db.sql`SELECT pg_sleep(${ms}::float8 / 1000) AS slept, pg_backend_pid() AS pid`;
    return { pid: row.pid, ms: Date.now() - started, pool: describePool(db) };
  },

  async '/health'() {
    return { ok: true, isolate };
  },
};

/** current_user, version and now() through the pool for `connectionString`. */
async function read(connectionString, url) {
  // ?pool=new: a pool of its own (a different option makes a different pool), ended after.
  const fresh = url.searchParams.get('pool') === 'new';
  const db = fresh ? createPool(connectionString, { idleTimeoutMs: 1_000_000 + ++throwaway }) : createPool(connectionString);
  const started = Date.now();
  try {
    const [row] = await db.sql`
      SELECT current_user AS "user", version() AS version, now() AS now,
             current_setting('application_name') AS application_name, pg_backend_pid() AS pid`;
    return { ...row, ms: Date.now() - started, pool: describePool(db), isolate };
  } finally {
    if (fresh) await db.end();
  }
}

let tableReady = false;
/** Creates the demo table once per isolate. */
async function ensureTable(db) {
  if (tableReady) return;
  try {
    await db.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id serial PRIMARY KEY, note text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
  } catch (e) {
    // A concurrent CREATE TABLE IF NOT EXISTS (another request or isolate) won the race.
    if (!(e instanceof PostgresError && (e.code === '23505' || e.code === '42P07'))) throw e;
  }
  tableReady = true;
}

function describePool(db) {
  let id = poolIds.get(db);
  if (!id) poolIds.set(db, (id = crypto.randomUUID()));
  return { id, stats: db.stats() };
}

/** What the client sees of an error: name, SQLSTATE or ConnectionError code, message. */
function describeError(e) {
  if (e instanceof PostgresError) return { name: e.name, code: e.code, message: e.message, severity: e.severity };
  if (e instanceof ConnectionError) return { name: e.name, code: e.code, message: e.message };
  return { name: e?.name ?? 'Error', message: String(e?.message ?? e) };
}

function typeName(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Uint8Array) return 'Uint8Array';
  if (value instanceof Date) return 'Date';
  return typeof value;
}

/** JSON with bigint as a string, bytes as `\x…` hex, and NaN/±Infinity as strings. */
function json(body, status = 200) {
  const text = JSON.stringify(body, function (key, value) {
    const original = this[key];
    if (typeof original === 'bigint') return original.toString();
    if (original instanceof Uint8Array) return '\\x' + [...original].map((b) => b.toString(16).padStart(2, '0')).join('');
    if (typeof original === 'number' && !Number.isFinite(original)) return String(original);
    return value;
  });
  return new Response(text, { status, headers: { 'content-type': 'application/json; charset=utf-8' } });
}

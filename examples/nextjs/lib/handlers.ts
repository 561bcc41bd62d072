/**
 * The four route handlers, shared by `app/api/edge/*` and `app/api/node/*`: each route file
 * only picks its runtime. The same code runs on both; only the pool's transport differs.
 */

import { ConnectionError, PostgresError, type Pool } from 'edgepg';

import { ConfigError, db, runtime } from './db';

/** GET: who we are, the server's clock, and a parameterized query (`?name=`). */
export const read = handle(async (req) => {
  const name = new URL(req.url).searchParams.get('name') ?? 'world';
  const pool = db();
  const [row] = await pool.sql`
    SELECT current_user AS "user", now() AS now, 'hello, ' || ${name}::text AS greeting`;
  return json({ runtime, ...row, pool: pool.stats() });
});

/**
 * POST `{ "note": "…" }`: inserts a row and counts the table in one transaction. An empty
 * note breaks the table's CHECK constraint: the transaction rolls back and the route answers
 * 500 with code 23514.
 */
export const write = handle(async (req) => {
  const body = (await req.json().catch(() => ({}))) as { note?: unknown };
  const note = typeof body.note === 'string' ? body.note : `written from ${runtime}`;
  const pool = db();
  await ensureTable(pool);
  const { inserted, count } = await pool.transaction(async (tx) => {
    const [inserted] = await tx.sql`
      INSERT INTO edgepg_nextjs_notes (runtime, note) VALUES (${runtime}, ${note})
      RETURNING id, runtime, note, created_at`;
    const [{ count }] = await tx.sql<{ count: number }>`
      SELECT count(*)::int AS count FROM edgepg_nextjs_notes`;
    return { inserted, count };
  });
  return json({ runtime, inserted, count, pool: pool.stats() }, 201);
});

/** GET: this isolate's pool counters. */
export const stats = handle(async () => json({ runtime, pool: db().stats() }));

/** GET: a query that fails on the server, to show the error response. */
export const fail = handle(async () => {
  await db().sql`SELECT * FROM edgepg_nextjs_no_such_table`;
  return json({ runtime, unreachable: true });
});

let tableReady: Promise<void> | undefined;

/** Creates the example's table once per isolate (a failed attempt is retried next time). */
function ensureTable(pool: Pool): Promise<void> {
  tableReady ??= pool
    .query(`CREATE TABLE IF NOT EXISTS edgepg_nextjs_notes (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      runtime text NOT NULL,
      note text NOT NULL CHECK (note <> ''),
      created_at timestamptz NOT NULL DEFAULT now())`)
    .then(
      () => undefined,
      (e: unknown) => {
        // Two isolates creating the table at once: one of them loses the race, harmlessly.
        if (e instanceof PostgresError && (e.code === '23505' || e.code === '42P07')) return;
        tableReady = undefined;
        throw e;
      },
    );
  return tableReady;
}

/**
 * Wraps a handler: any failure becomes a JSON 500 `{ error, code }` with the error's message
 * and its SQLSTATE (or edgepg's connection error code). No stack trace goes out, and edgepg's
 * messages never contain the password or the connection string. Anything else is reported
 * as `internal` without its message: it may say more than a client should see.
 */
function handle(fn: (req: Request) => Promise<Response>): (req: Request) => Promise<Response> {
  return async (req) => {
    try {
      return await fn(req);
    } catch (e) {
      if (e instanceof PostgresError || e instanceof ConnectionError || e instanceof ConfigError) {
        console.error(`[${runtime}] ${req.method} ${new URL(req.url).pathname}: ${e.name} ${e.code}: ${e.message}`);
        return json({ error: e.message, code: e.code }, 500);
      }
      console.error(`[${runtime}] ${req.method} ${new URL(req.url).pathname}:`, e);
      return json({ error: 'internal error', code: 'internal' }, 500);
    }
  };
}

/** `Response.json` that also writes bigints (int8 columns come back as `bigint`) as strings. */
function json(body: unknown, status = 200): Response {
  const text = JSON.stringify(body, (_key, v) => (typeof v === 'bigint' ? v.toString() : v));
  return new Response(text, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });
}

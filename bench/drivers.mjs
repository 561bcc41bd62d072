// The drivers under test, behind one small interface so every measure runs the same code
// for each. A driver is opened against an endpoint (where its bytes go: the server itself or
// a delay-proxy port in front of it) and gives:
//
//   query(text, params)   one statement, rows back (the driver's idiomatic call)
//   select1()             SELECT 1
//   param()               the parameterized query of the warm-latency measure
//   tx(i)                 BEGIN; INSERT; SELECT; COMMIT (the driver's interactive transaction)
//   txBatch(i)            the same as one batch (edgepg only)
//   batch3(i)             three statements in one transaction, the driver's best way
//   stats()               edgepg's pool counters (roundTrips), else null
//   end()
//
// Every connection string carries sslmode=disable (the stack has no TLS; edgepg's default
// `prefer` would spend one SSLRequest round trip on TCP).

import { performance } from 'node:perf_hooks';

import WebSocket from 'ws';

/** The drivers, in report order. `ws: true` = over WebSocket through the proxy. */
export const DRIVERS = [
  { id: 'edgepg-tcp', label: 'edgepg (TCP)', ws: false, edgepg: true },
  { id: 'pg', label: 'pg', ws: false },
  { id: 'postgres', label: 'postgres.js', ws: false },
  { id: 'edgepg-ws', label: 'edgepg (WebSocket)', ws: true, edgepg: true },
  { id: 'neon', label: 'neon Pool (WS, coalesceWrites default)', ws: true },
  { id: 'neon-nocoalesce', label: 'neon Pool (WS, coalesceWrites:false)', ws: true },
];

/**
 * The wire floor (wire.mjs): no driver at all, only the warm-latency queries, for the least
 * latency the path itself allows. Measured beside the drivers, reported in the warm tables.
 */
export const FLOORS = [
  { id: 'wire-tcp', label: 'wire floor (TCP, no driver)', ws: false, floor: true },
  { id: 'wire-ws', label: 'wire floor (WebSocket, no driver)', ws: true, floor: true },
];

/** Everything the runner can start: the drivers, then the floors. */
export const ALL_DRIVERS = [...DRIVERS, ...FLOORS];

export const driverById = (id) => {
  const d = ALL_DRIVERS.find((x) => x.id === id);
  if (!d) throw new Error(`unknown driver ${id}`);
  return d;
};

/** When the last WebSocket a driver made finished opening (performance.now()). */
export const wsTiming = { lastOpenAt: 0, opens: 0 };

/** `ws` with the open time recorded, so connect times can be split at "socket open". */
export class TimedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('open', () => {
      wsTiming.lastOpenAt = performance.now();
      wsTiming.opens++;
    });
  }
}

/**
 * Opens a driver.
 * @param {string} id          driver id
 * @param {object} ep          endpoint: { pgUrl: the target's real URL (user, password, db,
 *                             host:port as the server knows it), tcp: 'host:port' to dial
 *                             for TCP drivers, ws: 'host:port' of the WebSocket proxy (or a
 *                             delay proxy in front of it), bouncer: bool }
 * @param {object} opts        { max, appName, idleTimeoutMs }
 */
export async function openDriver(id, ep, opts = {}) {
  const max = opts.max ?? 1;
  const url = new URL(ep.pgUrl);
  url.searchParams.set('sslmode', 'disable');
  if (opts.appName) url.searchParams.set('application_name', opts.appName);
  const serverHostPort = `${url.hostname}:${url.port}`;
  const tcpUrl = new URL(url);
  if (ep.tcp) {
    const [h, p] = ep.tcp.split(':');
    tcpUrl.hostname = h;
    tcpUrl.port = p;
  }
  switch (id) {
    case 'edgepg-tcp':
    case 'edgepg-ws': {
      // BENCH_EDGEPG_MODULE: the profile runs load a copy whose wasm keeps its function names.
      const { createPool } = await import(process.env.BENCH_EDGEPG_MODULE || 'edgepg');
      const options = { max, idleTimeoutMs: opts.idleTimeoutMs ?? 60_000 };
      // Named prepared statements where they work (direct), as postgres.js's prepare: true.
      if (!ep.bouncer) options.statementCache = 100;
      let target = tcpUrl.toString();
      if (id === 'edgepg-ws') {
        target = url.toString();
        options.webSocketUrl = `ws://${ep.ws}/v2?address={host}:{port}`;
        options.WebSocket = TimedWebSocket;
      }
      const db = createPool(target, options);
      return {
        db,
        query: async (text, params) => (await db.query(text, params)).rows,
        select1: () => db.sql`SELECT 1 AS x`,
        param: (i) => db.sql`SELECT ${i}::int4 + 1 AS n, ${'hello'}::text AS t`,
        tx: (i, v = `v${process.pid}-${i}`) =>
          db.transaction(async (tx) => {
            await tx.sql`INSERT INTO bench_tx (v) VALUES (${v})`;
            return tx.sql`SELECT count(*)::int AS n FROM bench_tx WHERE v = ${v}`;
          }),
        txBatch: (i, v = `v${process.pid}-${i}`) =>
          db.batch([
            db.sql`INSERT INTO bench_tx (v) VALUES (${v})`,
            db.sql`SELECT count(*)::int AS n FROM bench_tx WHERE v = ${v}`,
          ]),
        batch3: (i) =>
          db.batch([
            db.sql`SELECT ${i}::int4 AS a`,
            db.sql`SELECT ${'b' + i}::text AS b`,
            db.sql`SELECT count(*)::int AS n FROM bench_tx`,
          ]),
        stats: () => db.stats(),
        end: () => db.end(),
      };
    }
    case 'pg': {
      const { default: pg } = await import('pg');
      const config = { connectionString: tcpUrl.toString(), max, idleTimeoutMillis: opts.idleTimeoutMs ?? 60_000 };
      const pool = new pg.Pool(config);
      pool.on('error', () => {});
      const driver = pgLike(pool);
      // pg ≥ 8.20 can pipeline (`pipeline: true`): its best batch is BEGIN, the three and
      // COMMIT written at once. A second pool so the other measures use pg's default mode.
      let piped;
      driver.batch3 = async (i) => {
        if (!piped) {
          piped = new pg.Pool({ ...config, max: 1, pipeline: true });
          piped.on('error', () => {});
        }
        const c = await piped.connect();
        try {
          const [, a, b, n] = await Promise.all([
            c.query('BEGIN'),
            c.query('SELECT $1::int4 AS a', [i]),
            c.query('SELECT $1::text AS b', ['b' + i]),
            c.query('SELECT count(*)::int AS n FROM bench_tx'),
            c.query('COMMIT'),
          ]);
          return [a.rows, b.rows, n.rows];
        } finally {
          c.release();
        }
      };
      const end = driver.end;
      driver.end = async () => {
        await end();
        if (piped) await piped.end();
      };
      return driver;
    }
    case 'neon':
    case 'neon-nocoalesce': {
      const neon = await import('@neondatabase/serverless');
      neon.neonConfig.webSocketConstructor = TimedWebSocket;
      neon.neonConfig.useSecureWebSocket = false;
      // SCRAM: pipelining the (cleartext) password would be a protocol violation; no TLS.
      neon.neonConfig.pipelineConnect = false;
      neon.neonConfig.pipelineTLS = false;
      // neonConfig is global, but every client also has its own (`client.neonConfig`, the
      // socket's settings): set the proxy and coalescing per client, so pools on different
      // delay-proxy ports in one process stay apart.
      const wsProxy = (host, port) => `${ep.ws}/v2?address=${host}:${port}`;
      const coalesceWrites = id === 'neon';
      class BenchClient extends neon.Client {
        constructor(config) {
          super(config);
          this.neonConfig.wsProxy = wsProxy;
          this.neonConfig.coalesceWrites = coalesceWrites;
        }
      }
      const pool = new neon.Pool({ connectionString: url.toString(), max, idleTimeoutMillis: opts.idleTimeoutMs ?? 60_000 });
      pool.Client = BenchClient;
      pool.on('error', () => {});
      return pgLike(pool);
    }
    case 'postgres': {
      const { default: postgres } = await import('postgres');
      const sql = postgres(tcpUrl.toString(), {
        max,
        idle_timeout: 60,
        // PgBouncer 1.18 in transaction mode cannot keep named prepared statements.
        prepare: !ep.bouncer,
        onnotice: () => {},
      });
      return {
        sql,
        query: (text, params) => sql.unsafe(text, params, { prepare: !ep.bouncer }),
        select1: () => sql`SELECT 1 AS x`,
        param: (i) => sql`SELECT ${i}::int4 + 1 AS n, ${'hello'}::text AS t`,
        tx: (i, v = `v${process.pid}-${i}`) =>
          sql.begin(async (tx) => {
            await tx`INSERT INTO bench_tx (v) VALUES (${v})`;
            return tx`SELECT count(*)::int AS n FROM bench_tx WHERE v = ${v}`;
          }),
        txBatch: null,
        // Its best: the three pipelined inside sql.begin.
        batch3: (i) =>
          sql.begin((tx) =>
            Promise.all([
              tx`SELECT ${i}::int4 AS a`,
              tx`SELECT ${'b' + i}::text AS b`,
              tx`SELECT count(*)::int AS n FROM bench_tx`,
            ]),
          ),
        stats: () => null,
        end: () => sql.end({ timeout: 1 }),
      };
    }
    case 'wire-tcp':
    case 'wire-ws': {
      const { openWire } = await import('./wire.mjs');
      return openWire({ ...ep, pgUrl: url.toString() }, id === 'wire-ws');
    }
    default:
      throw new Error(`unknown driver ${id}`);
  }
}

/** pg and neon's Pool (a pg fork) share the API. */
function pgLike(pool) {
  const inTx = async (fn) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const r = await fn(client);
      await client.query('COMMIT');
      return r;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  };
  return {
    pool,
    query: async (text, params) => (await pool.query(text, params)).rows,
    select1: async () => (await pool.query('SELECT 1 AS x')).rows,
    param: async (i) => (await pool.query('SELECT $1::int4 + 1 AS n, $2::text AS t', [i, 'hello'])).rows,
    tx: (i, v = `v${process.pid}-${i}`) =>
      inTx(async (c) => {
        await c.query('INSERT INTO bench_tx (v) VALUES ($1)', [v]);
        return (await c.query('SELECT count(*)::int AS n FROM bench_tx WHERE v = $1', [v])).rows;
      }),
    txBatch: null,
    // No pipelining in pg: the three one after another, inside BEGIN … COMMIT (the same
    // all-or-nothing guarantee a batch gives). Promise.all would queue them the same way.
    batch3: (i) =>
      inTx(async (c) => [
        (await c.query('SELECT $1::int4 AS a', [i])).rows,
        (await c.query('SELECT $1::text AS b', ['b' + i])).rows,
        (await c.query('SELECT count(*)::int AS n FROM bench_tx')).rows,
      ]),
    stats: () => null,
    end: () => pool.end(),
  };
}

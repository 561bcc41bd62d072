// edgepg on Cloudflare Workers: the demo Worker (worker/index.js) under `wrangler dev`, driven
// over HTTP. Run with scripts/test-workers.sh, which starts the stack and wrangler and exports:
//   WORKER_URL                    the Worker (http://127.0.0.1:<port>)
//   EDGEPG_URL_ADMIN              superuser, direct: counts backends in pg_stat_activity
//   EDGEPG_URL_BOUNCER_ADMIN      PgBouncer admin user: SHOW CLIENTS / SHOW SERVERS
//   EDGEPG_URL_BOUNCER            the Worker's DATABASE_URL without its query (for the password)
//   EDGEPG_WORKERS_APP_BOUNCER    application_name of the Worker's PgBouncer connections
//   EDGEPG_WORKERS_APP_DIRECT     application_name of its direct PostgreSQL connections
//   EDGEPG_STACK_DIR              where postgres.log is (auth method of each connection)
//   EDGEPG_PSQL                   psql
//   EDGEPG_WORKERS_REPORT         where to write the measurements (JSON)
//
// All requests reach one isolate (wrangler dev runs one), so they share one pool object per
// URL, while workerd closes every socket when the request that opened it ends.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

const WORKER_URL = env('WORKER_URL');
const ADMIN_URL = env('EDGEPG_URL_ADMIN');
const BOUNCER_ADMIN_URL = pgbouncerConsole(env('EDGEPG_URL_BOUNCER_ADMIN'));
const APP_BOUNCER = env('EDGEPG_WORKERS_APP_BOUNCER');
const APP_DIRECT = env('EDGEPG_WORKERS_APP_DIRECT');
const PASSWORD = decodeURIComponent(new URL(env('EDGEPG_URL_BOUNCER')).password);
const PG_LOG = `${env('EDGEPG_STACK_DIR')}/postgres.log`;
const PSQL = process.env.EDGEPG_PSQL || 'psql';
const BOUNCER_POOL_SIZE = 20; // default_pool_size in scripts/stack.sh's pgbouncer.ini

const report = {};
const bodies = []; // every response body, for the final check
let isolateId;
let bouncerPoolId;
let directPoolId;

describe('edgepg in a Worker (wrangler dev)', () => {
  before(async () => {
    // The isolate is warm (the script polled /health); its id anchors every later check.
    const { status, body } = await get('/health');
    assert.equal(status, 200);
    isolateId = body.isolate.id;
    assert.ok(isolateId);
  });

  after(() => {
    if (process.env.EDGEPG_WORKERS_REPORT) writeFileSync(process.env.EDGEPG_WORKERS_REPORT, JSON.stringify(report, null, 2) + '\n');
  });

  test('sequential requests on one isolate share one pool; each gets a working connection', async (t) => {
    const n = 12;
    const seen = [];
    for (let i = 0; i < n; i++) {
      const { status, body, ms } = await get('/');
      assert.equal(status, 200, `request ${i + 1}: ${JSON.stringify(body)}`);
      assert.equal(body.user, 'edgepg_scram');
      assert.match(body.version, /^PostgreSQL \d+/);
      assert.ok(!Number.isNaN(Date.parse(body.now)), `now() came back as ${body.now}`);
      assert.equal(body.application_name, APP_BOUNCER);
      assert.equal(body.isolate.id, isolateId, 'every request must reach the same isolate');
      seen.push({ ms, workerMs: body.ms, poolId: body.pool.id, stats: body.pool.stats });
    }
    bouncerPoolId = seen[0].poolId;
    assert.ok(seen.every((s) => s.poolId === bouncerPoolId), `one pool object for the whole isolate, got ids ${[...new Set(seen.map((s) => s.poolId))]}`);
    // workerd closed the previous request's socket: every request needed a connection of its
    // own, which the pool opened after dropping the dead one, without the user seeing it.
    for (let i = 1; i < n; i++) {
      assert.ok(seen[i].stats.created > seen[i - 1].stats.created, `request ${i + 1}: created ${seen[i].stats.created} after ${seen[i - 1].stats.created}`);
    }
    const last = seen[n - 1].stats;
    assert.equal(last.timeouts, 0);
    assert.ok(last.open <= last.max, `open ${last.open} > max ${last.max}`);
    report.sequential = summarize(seen);
    report.sequential.lastStats = last;
    t.diagnostic(`sequential reads: first ${seen[0].ms} ms, later median ${report.sequential.laterMedianMs} ms; created ${seen[0].stats.created} → ${last.created}, discarded ${last.discarded}`);
  });

  test('what a pool learned is reused by later requests: fewer round trips (and, direct, no PBKDF2)', async (t) => {
    // Same isolate, same URL. `?pool=new` makes a throwaway pool that has learned nothing, so
    // its handshake discovers the auth method (one more round trip) and runs PBKDF2. The
    // round-trip counts are asserted; the times are a measurement (a benchmark, not a timed
    // test) written to the report.
    const rounds = 15;
    report.learnedState = {};
    for (const [label, path] of [['bouncer', '/'], ['direct', '/direct']]) {
      const learned = [];
      const fresh = [];
      let previous = (await get(path)).body.pool.stats.roundTrips;
      for (let i = 0; i < rounds; i++) {
        const a = await get(path);
        assert.equal(a.status, 200, a.text);
        learned.push({ ms: a.ms, workerMs: a.body.ms, roundTrips: a.body.pool.stats.roundTrips - previous });
        previous = a.body.pool.stats.roundTrips;
        const b = await get(`${path}?pool=new`);
        assert.equal(b.status, 200, b.text);
        assert.equal(b.body.pool.stats.created, 1, 'a pool of its own');
        fresh.push({ ms: b.ms, workerMs: b.body.ms, roundTrips: b.body.pool.stats.roundTrips });
      }
      const entry = {
        rounds,
        learnedPool: { httpMedianMs: median(learned.map((x) => x.ms)), workerMedianMs: median(learned.map((x) => x.workerMs)), roundTrips: median(learned.map((x) => x.roundTrips)) },
        newPoolEachRequest: { httpMedianMs: median(fresh.map((x) => x.ms)), workerMedianMs: median(fresh.map((x) => x.workerMs)), roundTrips: median(fresh.map((x) => x.roundTrips)) },
      };
      report.learnedState[label] = entry;
      t.diagnostic(`${label}: learned pool ${entry.learnedPool.roundTrips} round trips, ${entry.learnedPool.httpMedianMs} ms (HTTP median); new pool ${entry.newPoolEachRequest.roundTrips} round trips, ${entry.newPoolEachRequest.httpMedianMs} ms`);
      // Every request of the learned pool opened a new connection (workerd closed the last
      // one) and still needed fewer round trips than a pool that knew nothing.
      for (const x of learned) assert.ok(x.roundTrips < entry.newPoolEachRequest.roundTrips, `${label}: a learned-pool request took ${x.roundTrips} round trips, a new pool ${entry.newPoolEachRequest.roundTrips}`);
    }
  });

  test('a pool cached in module scope is the same pool createPool returns', async () => {
    for (let i = 0; i < 3; i++) {
      const { status, body } = await get('/cached');
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.user, 'edgepg_scram');
      assert.equal(body.sameAsCreatePool, true);
      assert.equal(body.pool.id, bouncerPoolId, 'equal arguments → the same pool as /');
    }
  });

  test('a query error answers 500 with the SQLSTATE, no stack, no password; the next request works', async () => {
    const cases = [
      { path: '/error', code: '22012', message: /division by zero/ },
      { path: '/error?kind=syntax', code: '42601', message: /syntax error/ },
      { path: '/error?kind=tx', code: '42P01', message: /edgepg_no_such_table/ },
    ];
    for (const c of cases) {
      const { status, body, text } = await get(c.path);
      assert.equal(status, 500, `${c.path}: ${text}`);
      assert.equal(body.error.name, 'PostgresError', text);
      assert.equal(body.error.code, c.code, text);
      assert.match(body.error.message, c.message);
      assert.equal(body.error.severity, 'ERROR');
      assert.ok(!('stack' in body.error) && !/\n\s+at /.test(text), `no stack trace: ${text}`);
      assert.ok(!text.includes(PASSWORD), `no password in ${text}`);
      const next = await get('/');
      assert.equal(next.status, 200, `the request after ${c.path}: ${next.text}`);
      assert.equal(next.body.pool.id, bouncerPoolId);
    }
  });

  test('SCRAM is enforced: a wrong password fails cleanly on both targets, without echoing it', async () => {
    const wrong = 'Wr0ng-secret-' + Math.random().toString(36).slice(2);
    for (const target of ['direct', 'bouncer']) {
      const { status, body, text } = await get(`/error?kind=auth&target=${target}&password=${encodeURIComponent(wrong)}`);
      assert.equal(status, 500, text);
      // PostgreSQL says 28P01; PgBouncer reports its own failed SCRAM exchange as 08P01.
      const ok = (body.error.name === 'PostgresError' && ['28P01', '08P01'].includes(body.error.code)) ||
        (body.error.name === 'ConnectionError' && body.error.code === 'auth_failed');
      assert.ok(ok, `${target}: expected an authentication failure, got ${text}`);
      assert.match(body.error.message, /password|auth/i, text);
      assert.ok(!text.includes(wrong), `${target}: the wrong password is echoed: ${text}`);
      assert.ok(!text.includes(PASSWORD), `${target}: the real password is echoed: ${text}`);
    }
    const next = await get('/direct');
    assert.equal(next.status, 200, next.text);
  });

  test('direct PostgreSQL: SCRAM-SHA-256 connections, one pool across requests', async () => {
    // Only the log written from here on: the stack's log outlives runs, and pids repeat.
    const logStart = statSync(PG_LOG).size;
    const pids = [];
    for (let i = 0; i < 10; i++) {
      const { status, body } = await get('/direct');
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.user, 'edgepg_scram');
      assert.equal(body.application_name, APP_DIRECT);
      assert.equal(body.isolate.id, isolateId);
      directPoolId ??= body.pool.id;
      assert.equal(body.pool.id, directPoolId);
      assert.notEqual(body.pool.id, bouncerPoolId);
      pids.push(body.pid);
    }
    report.directDistinctBackends = { requests: pids.length, distinctPids: new Set(pids).size };
    // The server log says how each of these backends authenticated (log_connections = on).
    const lines = await waitFor(() => {
      const text = readFileSync(PG_LOG).subarray(logStart).toString('utf8');
      const found = pids.map((pid) => text.split('\n').find((l) => l.includes(`[${pid}]`) && l.includes('connection authenticated')));
      return found.every(Boolean) ? found : null;
    }, 5000, 'connection authenticated lines in postgres.log');
    for (const line of lines) assert.match(line, /method=scram-sha-256/, line);
  });

  test('a transaction commits, a throwing callback rolls back', async () => {
    const initial = await get('/count');
    assert.equal(initial.status, 200, initial.text);
    const n = initial.body.count;
    const one = await get('/tx?note=first');
    assert.equal(one.status, 200, one.text);
    assert.equal(one.body.count, n + 1);
    assert.equal(typeof one.body.id, 'number');
    const failed = await get('/tx?fail=1&note=never');
    assert.equal(failed.status, 500, failed.text);
    assert.match(failed.body.error.message, /rolled back on purpose/);
    assert.equal((await get('/count')).body.count, n + 1, 'the failed transaction left no row');
    const two = await get('/tx?note=second');
    assert.equal(two.status, 200, two.text);
    assert.equal(two.body.count, n + 2);
    assert.ok(two.body.id > one.body.id);
  });

  test('every type mapping, as results and as parameters', async () => {
    const { status, body, text } = await get('/types');
    assert.equal(status, 200, text);
    const v = body.values;
    assert.deepEqual(v, {
      int2: -32768,
      int4: 2147483647,
      oid: 4294967295,
      int8: '9223372036854775807',
      int8_beyond_2_53: '-9007199254740993',
      float4: 1.5,
      float8: -0.1,
      float8_inf: 'Infinity',
      float8_nan: 'NaN',
      numeric: '12345678901234567890.000000000000000001',
      bool: true,
      text: 'héllo ✓ "q" \\ back\nline 😀',
      varchar: 'var',
      bpchar: 'ab  ',
      name: 'a_name',
      uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      date: '2024-02-29',
      time: '23:59:59.999999',
      timetz: '12:34:56.5+05:30',
      timestamp: '2024-01-02T03:04:05.5',
      timestamptz: '2024-01-02T01:04:05.678Z',
      interval: '1 year 2 mons 3 days 04:05:06.5',
      inet: '10.1.2.3/8',
      json: { a: [1, 2, { b: null }], c: 'x' },
      jsonb: { a: 'é', z: 1 },
      bytea: '\\x00ff10',
      int4_array: [1, null, 3],
      text_array: ['a', null, 'c "q"'],
      int8_array: ['9007199254740993'],
      null_int4: null,
      null_text: null,
    });
    // The JS types inside the Worker, before JSON.
    assert.equal(body.jsTypes.int8, 'bigint');
    assert.equal(body.jsTypes.int8_beyond_2_53, 'bigint');
    assert.equal(body.jsTypes.numeric, 'string');
    assert.equal(body.jsTypes.bytea, 'Uint8Array');
    assert.equal(body.jsTypes.timestamptz, 'Date');
    assert.equal(body.jsTypes.json, 'object');
    assert.equal(body.jsTypes.int4_array, 'array');
    assert.equal(body.jsTypes.float8_nan, 'number');
    assert.equal(body.jsTypes.null_int4, 'null');
    for (const [name, equal] of Object.entries(body.params)) assert.equal(equal, true, `parameter ${name} did not round-trip`);
    assert.equal(Object.keys(body.params).length, 11);
    assert.deepEqual(body.arrayRow, [1, 'two']);
  });

  test('db.batch in a Worker', async () => {
    const { status, body, text } = await get('/batch');
    assert.equal(status, 200, text);
    assert.deepEqual(body.results, [[{ one: 1 }], [{ two: 'two' }], [{ n: 1 }, { n: 2 }, { n: 3 }]]);
  });

  test("a Hyperdrive binding's connectionString works like any URL", async () => {
    for (let i = 0; i < 3; i++) {
      const { status, body, text } = await get('/hyperdrive');
      assert.equal(status, 200, text);
      assert.equal(body.user, 'edgepg_scram', text);
      assert.ok(body.pool.stats.created >= 1);
    }
  });

  test('the isolate kept one pool object per URL through every request', async () => {
    const { status, body } = await get('/stats');
    assert.equal(status, 200);
    assert.equal(body.isolate.id, isolateId, 'wrangler must not have restarted the Worker');
    assert.equal(body.bouncer.id, bouncerPoolId);
    assert.equal(body.cached.id, bouncerPoolId);
    assert.ok(body.bouncer.stats.created >= 12, `created ${body.bouncer.stats.created}`);
    assert.ok(body.bouncer.stats.reused >= 1, 'statements of one request share its connection');
    for (const which of ['bouncer', 'direct']) {
      assert.equal(body[which].stats.busy, 0, `${which}: nothing in flight`);
      assert.equal(body[which].stats.waiting, 0);
      assert.equal(body[which].stats.timeouts, 0);
    }
    assert.ok(body.isolate.requests >= 60, `the isolate served ${body.isolate.requests} requests`);
    report.statsBeforeBursts = { bouncer: body.bouncer.stats, direct: body.direct.stats, isolateRequests: body.isolate.requests };
  });

  // Bursts of 50 concurrent requests on the default pool (max 5). On Workers a request can
  // neither use nor wait for another request's connection (workerd would cancel it as hung),
  // so each in-flight request has a connection of its own: `max` bounds the idle connections
  // kept, and the pooler (PgBouncer here) bounds the server side.
  test('50 concurrent requests through PgBouncer all succeed; PgBouncer keeps the server side at its pool size', async (t) => {
    await burst(t, { target: 'bouncer' });
  });

  test('50 concurrent requests to PostgreSQL directly all succeed; the backends are gone right after', async (t) => {
    await burst(t, { target: 'direct' });
  });

  test("no response ever showed workerd's cross-request I/O error", () => {
    // The pool meets it on every request after the first (the idle connection belongs to an
    // ended request) and must handle it silently. scripts/test-workers.sh also greps the
    // wrangler log for it.
    assert.ok(bodies.length >= 150, `only ${bodies.length} responses seen`);
    const leaked = bodies.filter((text) => /different request|Cannot perform I\/O/i.test(text));
    assert.deepEqual(leaked, []);
  });
});

/**
 * Fires 50 concurrent `/sleep?ms=200` at `target` while sampling the server side, then
 * checks: every request succeeded on the isolate's one pool, the Worker never held more than
 * one connection per request, PgBouncer no more than its pool size, the Worker's connections
 * were all gone shortly after (workerd closes sockets at request end), and the pool is left
 * with nothing busy or waiting and still answers.
 */
async function burst(t, { target }) {
  const n = 50;
  const app = target === 'direct' ? APP_DIRECT : APP_BOUNCER;
  const path = `/sleep?ms=200&target=${target}`;
  const workerConnections = async () =>
    target === 'direct'
      ? Number(await psqlValue(ADMIN_URL, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name = '${app}'`))
      : (await psqlRows(BOUNCER_ADMIN_URL, 'SHOW CLIENTS')).filter((c) => c.application_name === app).length;
  const sampler = sample(async () => {
    const [worker, scramBackends, servers] = await Promise.all([
      workerConnections(),
      // The count the brief asks for: every edgepg_scram backend (PgBouncer's and direct).
      psqlValue(ADMIN_URL, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'edgepg_scram' AND backend_type = 'client backend'").then(Number),
      target === 'bouncer' ? psqlRows(BOUNCER_ADMIN_URL, 'SHOW SERVERS') : Promise.resolve([]),
    ]);
    return {
      workerConnections: worker,
      scramBackends,
      bouncerServers: servers.filter((s) => s.user === 'edgepg_scram' && s.database === 'edgepg').length,
    };
  });
  let responses;
  const started = performance.now();
  try {
    await sampler.first;
    responses = await Promise.all(Array.from({ length: n }, () => get(path, { allowText: true })));
  } finally {
    await sampler.stop();
  }
  const wallMs = Math.round(performance.now() - started);
  const peak = sampler.peak();
  const ok = responses.filter((r) => r.status === 200);
  const failures = responses.filter((r) => r.status !== 200);
  const entry = { target, requests: n, succeeded: ok.length, wallMs, samples: sampler.samples.length, peak };
  if (failures.length) entry.failures = countBy(failures.map((r) => r.body?.error?.code ?? r.text.slice(0, 120)));
  (report.bursts ??= []).push(entry);
  t.diagnostic(`${ok.length}/${n} ok in ${wallMs} ms; peak: Worker connections ${peak.workerConnections}, edgepg_scram backends ${peak.scramBackends}${target === 'bouncer' ? `, PgBouncer servers ${peak.bouncerServers}` : ''}`);

  assert.equal(failures.length, 0, `${failures.length}/${n} failed: ${JSON.stringify(entry.failures)}`);
  const poolId = ok[0].body.pool.id;
  assert.ok(ok.every((r) => r.body.pool.id === poolId), 'one pool served all 50');
  assert.equal(ok[0].body.pool.id, target === 'bouncer' ? bouncerPoolId : directPoolId, 'the same pool as the sequential requests');
  assert.ok(sampler.samples.length >= 3, `only ${sampler.samples.length} samples`);
  assert.ok(peak.workerConnections >= 1, 'the sampler never saw the Worker connected: the bound would prove nothing');
  assert.ok(peak.workerConnections <= n, `the Worker held ${peak.workerConnections} connections for ${n} requests`);
  if (target === 'bouncer') assert.ok(peak.bouncerServers <= BOUNCER_POOL_SIZE, `PgBouncer used ${peak.bouncerServers} server connections`);
  // workerd closed every socket when its request ended: nothing of the Worker stays connected.
  const t0 = Date.now();
  await waitFor(async () => (await workerConnections()) === 0, 5000, `the Worker's ${target} connections to close`);
  entry.backToZeroMs = Date.now() - t0;
  const next = await get(`/sleep?ms=0&target=${target}`);
  assert.equal(next.status, 200, `the pool after the burst: ${next.text}`);
  const stats = next.body.pool.stats;
  entry.statsAfter = stats;
  assert.equal(stats.busy, 0, 'no lease left behind');
  assert.equal(stats.waiting, 0);
  assert.equal(stats.timeouts, 0);
  assert.ok(stats.idle <= stats.max, `${stats.idle} idle connections kept, max ${stats.max}`);
}

// ---------------------------------------------------------------------------------------------

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests with scripts/test-workers.sh`);
  return value;
}

/**
 * GET a Worker path → { status, body (parsed JSON), text, ms }. A body that is not JSON (the
 * runtime's own error page) throws, unless `allowText` (then `body` is undefined).
 */
async function get(path, { allowText = false } = {}) {
  const started = performance.now();
  const res = await fetch(WORKER_URL + path);
  const text = await res.text();
  const ms = Math.round(performance.now() - started);
  bodies.push(text);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    if (!allowText) throw new Error(`${path}: status ${res.status}, not JSON: ${text.slice(0, 500)}`);
  }
  return { status: res.status, body, text, ms };
}

function countBy(values) {
  const out = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** The PgBouncer admin console of the admin URL (database `pgbouncer`). */
function pgbouncerConsole(url) {
  const u = new URL(url);
  u.pathname = '/pgbouncer';
  return u.toString();
}

async function psqlValue(url, sql) {
  const { stdout } = await run(PSQL, ['-X', '-q', '-At', '-d', url, '-c', sql], { env: { ...process.env, PGCONNECT_TIMEOUT: '5' } });
  return stdout.trim();
}

/** Rows of a query (works for the PgBouncer console's SHOW commands) as objects. */
async function psqlRows(url, sql) {
  const { stdout } = await run(PSQL, ['-X', '-q', '-A', '-F', '\t', '-P', 'footer=off', '-d', url, '-c', sql], { env: { ...process.env, PGCONNECT_TIMEOUT: '5' } });
  const [header, ...lines] = stdout.split('\n').filter((l) => l.length > 0);
  const names = header.split('\t');
  return lines.map((l) => Object.fromEntries(l.split('\t').map((v, i) => [names[i], v])));
}

/** Samples `probe` back to back until stopped; `first` resolves after the first sample. */
function sample(probe) {
  const samples = [];
  let stopped = false;
  let error;
  let resolveFirst;
  const first = new Promise((r) => (resolveFirst = r));
  const loop = (async () => {
    while (!stopped) {
      try {
        samples.push(await probe());
      } catch (e) {
        error = e;
        stopped = true;
      }
      resolveFirst();
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  return {
    samples,
    first,
    async stop() {
      stopped = true;
      await loop;
      if (error) throw error;
    },
    peak() {
      const out = {};
      for (const s of samples) for (const [k, v] of Object.entries(s)) out[k] = Math.max(out[k] ?? 0, v);
      return out;
    },
  };
}

async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function summarize(seen) {
  const later = seen.slice(1);
  return {
    requests: seen.length,
    firstMs: seen[0].ms,
    firstWorkerMs: seen[0].workerMs,
    laterMedianMs: median(later.map((s) => s.ms)),
    laterWorkerMedianMs: median(later.map((s) => s.workerMs)),
    createdPerRequest: seen.map((s) => s.stats.created),
  };
}

// One driver's share of one round, in a fresh Node process (forked by run.mjs with an IPC
// channel; the job is argv[2] as JSON, the result goes back with process.send).
//
// job.kind = 'main'   (per driver × target)
//   1. fresh process: the very first connect + SCRAM + SELECT 1 (module load, wasm
//      instantiation, JIT cold) over the delay-0 proxy;
//   2. round trips: cold connect (first contact: a fresh pool key each time), for edgepg also
//      "the isolate knows the server" (the same pool's second connection after the first
//      closed idle), the transaction, the transaction as a batch, and the 3-statement batch,
//      each timed through the delay proxy at 0 and at D ms one-way, alternating;
//   3. warm latency: SELECT 1 and a parameterized query, straight to the server (no proxy);
//   4. (direct target only) 200 concurrent pg_sleep(0.01) on max 10, while the parent samples
//      pg_stat_activity for this pool's backends.
// job.kind = 'decode' 100 000 rows × 9 columns: rows/s and peak RSS (VmHWM).

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const job = JSON.parse(process.argv[2]);
const now = () => performance.now();
const send = (msg) => new Promise((resolve) => process.send(msg, resolve));

/** Asks the parent to do something and waits for its answer. */
function ask(msg) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m && m.reply === msg.op) {
        process.off('message', on);
        resolve(m);
      }
    };
    process.on('message', on);
    process.send(msg);
  });
}

// Decode jobs note the size of any wasm linear memory (edgepg's): it holds the raw rows and
// the JSON handed to JS, and never shrinks. Only instance creation is wrapped.
const wasmMemories = [];
if (job.kind === 'decode') {
  WebAssembly.Instance = new Proxy(WebAssembly.Instance, {
    construct(target, argList, newTarget) {
      const instance = Reflect.construct(target, argList, newTarget);
      if (instance.exports?.memory instanceof WebAssembly.Memory) wasmMemories.push(instance.exports.memory);
      return instance;
    },
  });
}
const wasmMemoryMb = () => (wasmMemories.length ? wasmMemories.reduce((a, m) => a + m.buffer.byteLength, 0) / 2 ** 20 : null);

const drivers = await import('./drivers.mjs');

/** The delay proxy's turn counters (structural round-trip counts), over its control port. */
const turns = await (async () => {
  if (!job.proxyControl) return null;
  const { default: net } = await import('node:net');
  const [host, port] = job.proxyControl.split(':');
  const sock = net.connect({ host, port: Number(port) });
  sock.setNoDelay(true);
  sock.setEncoding('utf8');
  await new Promise((ok, fail) => sock.once('connect', ok).once('error', fail));
  let buf = '';
  const waiting = [];
  sock.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      waiting.shift()?.(JSON.parse(line).turns);
    }
  });
  return {
    snap: () => new Promise((resolve) => { waiting.push(resolve); sock.write('snap\n'); }),
  };
})();
/** Runs fn and returns the turns the delay-proxy route `listen` saw meanwhile. */
async function countTurns(listen, fn) {
  if (!turns) return { value: await fn(), turns: null };
  const a = await turns.snap();
  const value = await fn();
  const b = await turns.snap();
  return { value, turns: (b[listen] ?? 0) - (a[listen] ?? 0) };
}
const routeOf = (ep) => (job.ws ? ep.ws : ep.tcp);
const { openDriver, wsTiming } = drivers;

let keyCounter = 0;
const appName = (what) => `bench_${job.driver}_${what}_${process.pid}_${keyCounter++}`;

function vmHwmKb() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}
function vmRssKb() {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/**
 * Lets a closing connection finish (a WebSocket close handshake is one more exchange through
 * the delay proxy) so it is not counted in the next sample's turns.
 */
const settle = () => new Promise((r) => setTimeout(r, 3 * (job.delayMs ?? 10) + 10));

/** Connect + auth + SELECT 1 on a brand-new pool/client. */
async function coldOnce(ep) {
  const openBefore = wsTiming.opens;
  let t0, t1, tOpen, c;
  const counted = await countTurns(routeOf(ep), async () => {
    t0 = now();
    c = await openDriver(job.driver, ep, { max: 1, appName: appName('cold') });
    tOpen = now();
    await c.select1();
    t1 = now();
  });
  const wsOpenMs = wsTiming.opens > openBefore ? wsTiming.lastOpenAt - t0 : null;
  const roundTrips = c.stats()?.roundTrips ?? null;
  await c.end();
  await settle();
  return { ms: t1 - t0, openDriverMs: tOpen - t0, afterOpenMs: wsOpenMs === null ? t1 - t0 : t1 - t0 - wsOpenMs, wsOpenMs, roundTrips, turns: counted.turns };
}

/** edgepg: the pool's second connection, after the first closed idle (hints learned). */
async function knownOnce(ep) {
  const c = await openDriver(job.driver, ep, { max: 1, appName: appName('known'), idleTimeoutMs: 20 });
  await c.select1();
  const deadline = now() + 3000;
  while (c.stats().open > 0 && now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const closed = c.stats().open === 0;
  await settle();
  const rt0 = c.stats().roundTrips;
  const created0 = c.stats().created;
  const openBefore = wsTiming.opens;
  let t0, t1;
  const counted = await countTurns(routeOf(ep), async () => {
    t0 = now();
    await c.select1();
    t1 = now();
  });
  const wsOpenMs = wsTiming.opens > openBefore ? wsTiming.lastOpenAt - t0 : null;
  const s = c.stats();
  await c.end();
  await settle();
  return {
    ms: t1 - t0,
    afterOpenMs: wsOpenMs === null ? t1 - t0 : t1 - t0 - wsOpenMs,
    wsOpenMs,
    roundTrips: s.roundTrips - rt0,
    turns: counted.turns,
    newConnection: closed && s.created === created0 + 1,
  };
}

async function mainJob() {
  const out = { driver: job.driver, target: job.target, pid: process.pid };
  const eps = job.endpoints; // { d0, dD, direct }
  const steps = new Set(job.steps ?? ['fresh', 'rt', 'warm', 'concurrency']);

  // 1. the first query this process ever makes
  if (steps.has('fresh')) {
    const r = await coldOnce(eps.d0);
    out.freshProcessMs = r.ms;
    // import + pool creation (for edgepg: reading and compiling the wasm, synchronously)
    out.freshOpenDriverMs = r.openDriverMs;
  }

  if (steps.has("rt")) await measureRoundTrips(out, eps);
  if (steps.has('warm')) await warmLatency(out, eps);
  if (steps.has('concurrency') && job.concurrency) await concurrency(out, eps);
  return out;
}

/** 2. round trips: each operation through the delay proxy at 0 and at D ms, alternating. */
async function measureRoundTrips(out, eps) {
  const reps = job.reps;
  const cold = { d0: [], dD: [] };
  const known = { d0: [], dD: [] };
  for (let i = 0; i < reps; i++) {
    for (const d of i % 2 ? ['dD', 'd0'] : ['d0', 'dD']) {
      cold[d].push(await coldOnce(eps[d]));
      if (job.edgepg) known[d].push(await knownOnce(eps[d]));
    }
  }
  out.cold = cold;
  if (job.edgepg) out.known = known;

  const ops = { tx: [], txBatch: [], batch3: [] };
  const conns = {};
  for (const d of ['d0', 'dD']) conns[d] = await openDriver(job.driver, eps[d], { max: 1, appName: appName('ops') });
  const opRuns = {};
  let v = 0;
  for (const op of Object.keys(ops)) {
    if (!conns.d0[op]) continue;
    opRuns[op] = { d0: [], dD: [] };
    for (const d of ['d0', 'dD']) {
      // warm: the pool's connection exists, lazily created helpers too
      await conns[d][op](v++);
      await conns[d][op](v++);
    }
    for (let i = 0; i < reps; i++) {
      for (const d of i % 2 ? ['dD', 'd0'] : ['d0', 'dD']) {
        const c = conns[d];
        const rt0 = c.stats()?.roundTrips;
        let t0, t1;
        const counted = await countTurns(routeOf(eps[d]), async () => {
          t0 = now();
          await c[op](v++);
          t1 = now();
        });
        const rt1 = c.stats()?.roundTrips;
        opRuns[op][d].push({ ms: t1 - t0, roundTrips: rt0 === undefined ? null : rt1 - rt0, turns: counted.turns });
      }
    }
  }
  for (const d of ['d0', 'dD']) await conns[d].end();
  out.ops = opRuns;
}

/**
 * 3. warm latency, straight to the server. The two queries alternate, in the warm-up and in
 * the timed loop, so both see the same conditions (the first thousands of queries of a process
 * are slower for every driver and even for the wire floor: JIT and wasm tier-up, the server's
 * caches).
 */
async function warmLatency(out, eps) {
  {
    const c = await openDriver(job.driver, eps.direct, { max: 1, appName: appName('warm') });
    const queries = [['select1', () => c.select1()], ['param', (i) => c.param(i)]];
    for (let i = 0; i < job.warmup; i++) for (const [, fn] of queries) await fn(i);
    const samples = Object.fromEntries(queries.map(([name]) => [name, new Float64Array(job.iterations)]));
    for (let i = 0; i < job.iterations; i++) {
      for (const [name, fn] of queries) {
        const t0 = now();
        await fn(i);
        samples[name][i] = now() - t0;
      }
    }
    const lat = {};
    for (const [name] of queries) {
      const s = Array.from(samples[name]).sort((a, b) => a - b);
      lat[name] = {
        p50: s[Math.floor(s.length * 0.5)],
        p99: s[Math.floor(s.length * 0.99)],
        mean: s.reduce((a, b) => a + b, 0) / s.length,
      };
    }
    await c.end();
    out.warm = lat;
  }
}

/** 4. 200 concurrent pg_sleep(0.01) on max 10, the parent sampling the pool's backends. */
async function concurrency(out, eps) {
  {
    const name = appName('conc');
    const c = await openDriver(job.driver, eps.direct, { max: 10, appName: name });
    // warm the pool: open its connections
    await Promise.all(Array.from({ length: 10 }, () => c.query('SELECT pg_sleep(0.005)', [])));
    await Promise.all(Array.from({ length: 10 }, () => c.query('SELECT pg_sleep(0.005)', [])));
    await ask({ op: 'sample-start', appName: name });
    const t0 = now();
    await Promise.all(Array.from({ length: job.concurrency }, () => c.query('SELECT pg_sleep(0.01)', [])));
    const wall = now() - t0;
    const sampled = await ask({ op: 'sample-stop' });
    await c.end();
    out.concurrency = { wallMs: wall, maxBackends: sampled.maxBackends, maxActive: sampled.maxActive, samples: sampled.samples };
  }
}

async function decodeJob() {
  const c = await openDriver(job.driver, job.endpoints.direct, { max: 1, appName: appName('decode') });
  const q = 'SELECT * FROM bench_rows';
  // The wire floor counts the DataRows and decodes none; a driver returns its rows.
  const floor = Boolean(c.rows);
  const run = floor ? (sql) => c.rows(sql) : (sql) => c.query(sql, []);
  // JIT warm-up on a small slice; the big query runs once (its peak is the measure).
  for (let i = 0; i < 3; i++) await run(`${q} ORDER BY int_col LIMIT 2000`);
  globalThis.gc?.();
  const rssBeforeKb = vmRssKb();
  const wasmBeforeMb = wasmMemoryMb();
  const hwmBeforeKb = vmHwmKb();
  const t0 = now();
  let rows = await run(q);
  const ms = now() - t0;
  const peakKb = vmHwmKb();
  // where the memory is right after the query (V8 heap, ArrayBuffers; wasm memory is
  // neither: it shows in RSS only and never shrinks)
  const mu = process.memoryUsage();
  const memory = { wasmMb: wasmMemoryMb(), wasmBeforeMb, rssMb: mu.rss / 2 ** 20, heapUsedMb: mu.heapUsed / 2 ** 20, externalMb: mu.external / 2 ** 20, arrayBuffersMb: mu.arrayBuffers / 2 ** 20 };
  // profile runs repeat the big query so process start-up weighs little in the profile
  for (let i = 1; i < (job.repeat ?? 1); i++) rows = await run(q);
  const count = floor ? rows : rows.length;
  // prove the values were decoded into JS types
  const last = floor ? null : rows[rows.length - 1];
  const check = floor
    ? { rows: count, floor: true }
    : {
        rows: count,
        ts: Object.prototype.toString.call(last.ts_col),
        json: typeof last.json_col,
        arr: Array.isArray(last.arr_col),
        bytea: last.bytea_col?.constructor?.name,
      };
  await c.end();
    globalThis.gc?.();
  const after = process.memoryUsage();
  memory.rssAfterGcMb = after.rss / 2 ** 20;
  return { driver: job.driver, ms, rowsPerSec: count / (ms / 1000), peakRssKb: peakKb, rssBeforeKb, hwmBeforeKb, memory, check };
}

process.on('uncaughtException', async (e) => {
  await send({ op: 'error', error: 'uncaught: ' + String(e?.stack ?? e) });
  process.exit(1);
});
try {
  const result = job.kind === 'decode' ? await decodeJob() : await mainJob();
  await send({ op: 'result', result });
  process.exit(0);
} catch (e) {
  await send({ op: 'error', error: String(e?.stack ?? e) });
  process.exit(1);
}

// The benchmark runner: every measure, drivers interleaved round-robin, then results.json
// and RESULTS.md. Run it through scripts/bench.sh (which builds, installs and starts the
// stack); by hand: eval "$(scripts/stack.sh env)"; node bench/run.mjs [options]
//
//   --rounds N        rounds (default 5); each round runs every driver once, in a rotated order
//   --decode-rounds N rounds of the decode measure (default twice --rounds)
//   --iterations N    warm-latency iterations per query (default 2000, after --warmup 2000;
//                     the two queries alternate)
//   --reps N          round-trip repetitions per delay per round (default 2)
//   --delay MS        one-way delay for round-trip counting (default 10 → RTT 20 ms)
//   --no-workerd      skip the workerd measure     --no-profile   skip the profiles
//   --only a,b        only these measures: main, decode, bundle, workerd
//   --drivers a,b     only these drivers (ids in drivers.mjs)   --targets direct,bouncer

import { fork, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

import { bundleSizes } from './bundle.mjs';
import { ALL_DRIVERS, DRIVERS } from './drivers.mjs';
import { summarizeProfile } from './profile.mjs';
import { writeReport } from './report.mjs';
import { setup } from './setup.mjs';
import { wasmSizes } from './wasm-sizes.mjs';
import { workerdBench } from './workerd/run-workerd.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const ROUNDS = args.rounds ?? 5;
// Decode rounds are short (one query per child) and their spread is wide: twice as many.
const DECODE_ROUNDS = args['decode-rounds'] ?? 2 * ROUNDS;
const ITERATIONS = args.iterations ?? 2000;
const WARMUP = args.warmup ?? 2000;
const REPS = args.reps ?? 2;
const DELAY = args.delay ?? 10;
const CONCURRENCY = 200;
const onlyDrivers = args.drivers ? String(args.drivers).split(',') : null;
const onlyTargets = args.targets ? String(args.targets).split(',') : ['direct', 'bouncer'];
const only = args.only ? new Set(String(args.only).split(',')) : null;
const want = (m) => !only || only.has(m);

const log = (...a) => console.error('[bench]', ...a);
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through scripts/bench.sh (it starts the stack)`);
  return v;
};

const started = Date.now();
const results = {
  startedAt: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, loadavgStart: readFileSync('/proc/loadavg', 'utf8').trim() },
  config: { rounds: ROUNDS, decodeRounds: DECODE_ROUNDS, iterations: ITERATIONS, warmup: WARMUP, reps: REPS, delayMs: DELAY, concurrency: CONCURRENCY, poolMax: 10 },
  versions: versions(),
};
log(`load at start: ${results.machine.loadavgStart}`);

const URLS = { direct: env('EDGEPG_URL_SCRAM'), bouncer: env('EDGEPG_URL_BOUNCER') };
const WS = new URL(env('EDGEPG_WS_URL')); // ws://127.0.0.1:58080/v2
const hostPort = (u) => `${new URL(u).hostname}:${new URL(u).port}`;

await setup(env('EDGEPG_URL_ADMIN'));

// ---------------------------------------------------------------------------------------
// the delay proxy: direct, bouncer and the WebSocket proxy, each at 0 and at DELAY ms
// ---------------------------------------------------------------------------------------
const upstreams = { direct: hostPort(URLS.direct), bouncer: hostPort(URLS.bouncer), ws: `${WS.hostname}:${WS.port}` };
const routeArgs = [];
for (const [name, target] of Object.entries(upstreams)) {
  for (const d of [0, DELAY]) routeArgs.push('--route', `127.0.0.1:0=${target}@${d}`);
}
const proxy = spawn(process.execPath, [join(here, 'delay-proxy.mjs'), ...routeArgs], { stdio: ['pipe', 'pipe', 'inherit'] });
const proxyLines = createInterface({ input: proxy.stdout });
const proxyLine = () => new Promise((resolve) => proxyLines.once('line', (l) => resolve(JSON.parse(l))));
const ready = await proxyLine();
const routeOf = (name, d) => ready.routes.find((r) => r.target === upstreams[name] && r.delayMs === d).listen;

function endpoints(target) {
  return {
    d0: { pgUrl: URLS[target], tcp: routeOf(target, 0), ws: routeOf('ws', 0), bouncer: target === 'bouncer' },
    dD: { pgUrl: URLS[target], tcp: routeOf(target, DELAY), ws: routeOf('ws', DELAY), bouncer: target === 'bouncer' },
    direct: { pgUrl: URLS[target], tcp: upstreams[target], ws: upstreams.ws, bouncer: target === 'bouncer' },
  };
}

// ---------------------------------------------------------------------------------------
// children, and the pg_stat_activity sampler they ask for
// ---------------------------------------------------------------------------------------
const admin = new pg.Client({ connectionString: env('EDGEPG_URL_ADMIN') });
await admin.connect();

/** Runs a child job; a failed one (e.g. PgBouncer restarted by someone's test run) is retried once. */
async function runChild(job, opts = {}) {
  try {
    return await runChildOnce(job, opts);
  } catch (e) {
    log(`${job.kind} ${job.driver} ${job.target ?? ''} failed (${e.message.split('\n')[0]}); retrying once`);
    results.retries = (results.retries ?? 0) + 1;
    return await runChildOnce(job, opts);
  }
}

function runChildOnce(job, { execArgv = [], timeoutMs = 120_000, env: extraEnv = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(join(here, 'child.mjs'), [JSON.stringify(job)], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...extraEnv },
    });
    let sampler = null;
    let outcome = null;
    const timer = setTimeout(() => {
      log(`child ${job.kind} ${job.driver} ${job.target ?? ''} timed out after ${timeoutMs} ms: killing it`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', async (m) => {
      if (m.op === 'result') outcome = { ok: m.result };
      else if (m.op === 'error') outcome = { err: new Error(`${job.driver}: ${m.error}`) };
      else if (m.op === 'sample-start') {
        sampler = startSampler(m.appName);
        await sampler.first;
        child.send({ reply: 'sample-start' });
      } else if (m.op === 'sample-stop') {
        const s = await sampler.stop();
        child.send({ reply: 'sample-stop', ...s });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (sampler) sampler.stop();
      if (outcome?.ok) resolve(outcome.ok);
      else reject(outcome?.err ?? new Error(`child ${job.driver} exited with ${code} and no result`));
    });
  });
}

/** Counts this pool's server backends (by application_name) every ~2 ms until stopped. */
function startSampler(appName) {
  let running = true;
  let maxBackends = 0;
  let maxActive = 0;
  let samples = 0;
  let firstDone;
  const first = new Promise((r) => (firstDone = r));
  const loop = (async () => {
    while (running) {
      const { rows } = await admin.query(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'active')::int AS active
           FROM pg_stat_activity WHERE application_name = $1 AND backend_type = 'client backend'`,
        [appName],
      );
      samples++;
      maxBackends = Math.max(maxBackends, rows[0].n);
      maxActive = Math.max(maxActive, rows[0].active);
      firstDone();
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    first,
    async stop() {
      running = false;
      await loop;
      return { maxBackends, maxActive, samples };
    },
  };
}

const rotate = (list, r) => list.map((_, i) => list[(i + r) % list.length]);

// ---------------------------------------------------------------------------------------
// measures 1–4 and 6: one child per driver × target per round
// ---------------------------------------------------------------------------------------
results.main = [];
results.decode = [];
if (want('main')) {
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (const d of rotate(ALL_DRIVERS, r).filter((x) => !onlyDrivers || onlyDrivers.includes(x.id))) {
      for (const target of r % 2 ? [...onlyTargets].reverse() : onlyTargets) {
        const job = {
          kind: 'main',
          driver: d.id,
          // the wire floor only answers the warm-latency queries
          ...(d.floor ? { steps: ['warm'] } : {}),
          edgepg: !!d.edgepg,
          ws: !!d.ws,
          proxyControl: ready.control,
          delayMs: DELAY,
          target,
          round: r,
          endpoints: endpoints(target),
          reps: REPS,
          iterations: ITERATIONS,
          warmup: WARMUP,
          concurrency: target === 'direct' ? CONCURRENCY : 0,
        };
        try {
          const res = await runChild(job);
          res.round = r;
          results.main.push(res);
        } catch (e) {
          log(`round ${r} ${d.id} ${target}: ${e.message}`);
          results.main.push({ driver: d.id, target, round: r, error: e.message });
        }
      }
    }
    log(`round ${r + 1}/${ROUNDS} (main) in ${((performance.now() - t0) / 1000).toFixed(1)} s; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  }
  proxy.stdin.write('stats\n');
  results.delayProxy = (await proxyLine()).stats;
}

// ---------------------------------------------------------------------------------------
// measure 5: decode throughput and peak memory, one child per driver per round
// ---------------------------------------------------------------------------------------
// The wire floors receive the result without decoding it: the least time the query takes here.
const DECODE_DRIVERS = ALL_DRIVERS.filter((d) => d.id !== 'neon-nocoalesce');
if (want('decode')) {
  for (let r = 0; r < DECODE_ROUNDS; r++) {
    for (const d of rotate(DECODE_DRIVERS, r).filter((x) => !onlyDrivers || onlyDrivers.includes(x.id))) {
      try {
        const res = await runChild({ kind: 'decode', driver: d.id, endpoints: endpoints('direct') }, { execArgv: ['--expose-gc'] });
        res.round = r;
        results.decode.push(res);
      } catch (e) {
        log(`decode round ${r} ${d.id}: ${e.message}`);
        results.decode.push({ driver: d.id, round: r, error: e.message });
      }
    }
  }
  log('decode done');
}

// ---------------------------------------------------------------------------------------
// measure 7: bundle sizes; the workerd edge path
// ---------------------------------------------------------------------------------------
if (want('bundle')) {
  try {
    results.bundle = await bundleSizes();
  } catch (e) {
    log(`bundle: ${e.message}`);
    results.bundle = { error: e.message };
  }
  log('bundle sizes done');
}
if (want('workerd') && !args['no-workerd']) {
  try {
    results.workerd = await workerdBench({ urls: URLS, rounds: ROUNDS, log });
  } catch (e) {
    log(`workerd: ${e.message}`);
    results.workerd = { error: e.message };
  }
}



// ---------------------------------------------------------------------------------------
// profiles for the targets edgepg misses, then the report
// ---------------------------------------------------------------------------------------
// The profiles load a copy of the package whose wasm keeps its name section (made by
// scripts/bench.sh and checked byte-identical in code to the shipped one), so wasm frames
// have Rust names.
const namedPkg = join(here, '.profile-pkg', 'node_modules', 'edgepg');
const namedOk = existsSync(join(namedPkg, 'NAMED_OK'));
if (namedOk) results.wasmSizes = wasmSizes(join(namedPkg, 'dist', 'wasm', 'edgepg_bg.wasm'));
const report = writeReport(results, { dryRun: true });
results.profiles = {};
if (!args['no-profile'] && report.profilesWanted.length) {
  const profDir = join(here, 'profiles');
  rmSync(profDir, { recursive: true, force: true });
  mkdirSync(profDir, { recursive: true });
  for (const p of report.profilesWanted) {
    try {
      const dir = join(profDir, p.name);
      const job = { ...p.job, endpoints: endpoints(p.job.target ?? 'direct') };
      const env = namedOk && p.job.driver.startsWith('edgepg') ? { BENCH_EDGEPG_MODULE: join(namedPkg, 'dist', 'node.js') } : {};
      await runChild(job, { execArgv: ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '200'], env });
      const summary = summarizeProfile(dir, 60);
      results.profiles[p.name] = { why: p.why, driver: p.job.driver, namedWasm: !!env.BENCH_EDGEPG_MODULE, perOp: perOp(p.job, summary), ...summary };
      log(`profile ${p.name} written`);
    } catch (e) {
      results.profiles[p.name] = { why: p.why, driver: p.job.driver, error: e.message };
    }
  }
}
proxy.stdin.end();

await admin.end();
results.machine.loadavgEnd = readFileSync('/proc/loadavg', 'utf8').trim();
results.durationSec = Math.round((Date.now() - started) / 1000);
log(`load at end: ${results.machine.loadavgEnd}; ${results.durationSec} s`);
writeFileSync(join(here, 'results.json'), JSON.stringify(results, null, 1) + '\n');
writeReport(results, { path: join(here, 'RESULTS.md') });
log('wrote bench/results.json and bench/RESULTS.md');
process.exit(0);

/** CPU per unit of work in a profile (the whole process, so connect and warm-up included). */
function perOp(job, summary) {
  const us = summary.busyMs * 1000;
  if (job.kind === 'decode') return { unit: 'row', us: us / (100_000 * (job.repeat ?? 1) + 6000) };
  if (job.steps?.includes('warm')) return { unit: 'query', us: us / (2 * (job.iterations + job.warmup)) };
  return null;
}

function versions() {
  const v = {};
  for (const name of ['pg', 'postgres', '@neondatabase/serverless', 'ws', 'esbuild', 'edgepg', 'wrangler']) {
    try {
      v[name] = JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      v[name] = null;
    }
  }
  return v;
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (key.startsWith('no-')) out[key] = true;
    else {
      const v = argv[++i];
      out[key] = /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    }
  }
  return out;
}

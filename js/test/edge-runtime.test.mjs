// edgepg's `edge-light` build inside Vercel's edge-runtime VM (npm `edge-runtime`): the
// package entry is bundled with esbuild the way an edge bundler would (condition
// `edge-light`, `*.wasm?module` imports), evaluated in the VM, and queried over the VM's own
// WebSocket through edgepg-proxy (EDGEPG_WS_URL). Results come back to the host as JSON with
// tagged bigints, Dates and bytes, so they compare across realms.
//
// How the wasm gets in: edge runtimes refuse to compile wasm from bytes at run time, and so
// does this VM when made with `codeGeneration: { wasm: false }` (checked below). Like Next's
// bundler, the test compiles the module ahead of time, on the host, and the bundle's
// `import wasm from './wasm/edgepg_bg.wasm?module'` resolves to that host `WebAssembly.Module`
// (injected as `__EDGEPG_WASM` in the VM context). The VM's `WebAssembly.instantiate` accepts a
// Module from another realm (V8 checks the internal brand, not the prototype), and
// instantiating a compiled module is no code generation, so `init({ module_or_path })` in
// dist/edge.js works unchanged. (`initSync` would not: its `instanceof WebAssembly.Module`
// fails across realms and it falls back to compiling bytes.)

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { EdgeRuntime } from 'edge-runtime';
import * as esbuild from 'esbuild';

import { env } from './core-suite.mjs';

const require = createRequire(import.meta.url);

/** esbuild plugin: `*.wasm?module` → the host-compiled module injected into the VM. */
const wasmModulePlugin = {
  name: 'edgepg-wasm-module',
  setup(build) {
    build.onResolve({ filter: /\.wasm\?module$/ }, (args) => ({ path: args.path, namespace: 'edgepg-wasm-module' }));
    build.onLoad({ filter: /.*/, namespace: 'edgepg-wasm-module' }, () => ({
      contents: "if (!globalThis.__EDGEPG_WASM) throw new Error('the test did not inject __EDGEPG_WASM');\nexport default globalThis.__EDGEPG_WASM;",
      loader: 'js',
    }));
  },
};

/** Runs in the VM: turns a value into JSON the host can rebuild (bigint, Date, bytes, NaN). */
const ENCODE = `
  globalThis.__encode = (value) => JSON.stringify(value, function (key, v) {
    const raw = this[key];
    if (typeof raw === 'bigint') return { $bigint: raw.toString() };
    if (raw instanceof Date) return { $date: raw.getTime() };
    if (raw instanceof Uint8Array) return { $bytes: Array.from(raw) };
    if (typeof raw === 'number' && !Number.isFinite(raw)) return { $number: String(raw) };
    if (raw instanceof Error) {
      return { $error: { name: raw.name, code: raw.code, message: raw.message, constraint: raw.constraint,
        detail: raw.detail, table: raw.table, severity: raw.severity, outcome: raw.outcome,
        isPostgresError: raw instanceof edgepg.PostgresError, isConnectionError: raw instanceof edgepg.ConnectionError } };
    }
    return v;
  });
`;

function decode(json) {
  return JSON.parse(json, (_key, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      if ('$bigint' in v) return BigInt(v.$bigint);
      if ('$date' in v) return new Date(v.$date);
      if ('$bytes' in v) return new Uint8Array(v.$bytes);
      if ('$number' in v) return Number(v.$number);
      if ('$error' in v) return { error: v.$error };
    }
    return v;
  });
}

/**
 * Wraps the VM's setTimeout/clearTimeout to know which timers are pending. The VM's timers
 * return numbers (no `unref`, as in browsers and edge runtimes), so a pending one keeps the
 * host process alive: `after` clears any left over so this file still exits promptly.
 */
function trackTimers(context) {
  const pending = new Map(); // id → { ms, seq }
  let seq = 0;
  const { setTimeout: set, clearTimeout: clear } = context;
  context.setTimeout = (fn, ms, ...args) => {
    const id = set((...a) => {
      pending.delete(id);
      if (typeof fn === 'function') fn(...a);
    }, ms, ...args);
    pending.set(id, { ms: Number(ms) || 0, seq: ++seq });
    return id;
  };
  context.clearTimeout = (id) => {
    pending.delete(id);
    clear(id);
  };
  // The delays of timers made after mark `since` (a value of __timerMark()) still pending.
  context.__timerMark = () => seq;
  context.__pendingTimers = (since = 0) => [...pending.values()].filter((t) => t.seq > since).map((t) => t.ms);
  context.__clearPendingTimers = () => {
    for (const id of pending.keys()) clear(id);
    pending.clear();
  };
  return context;
}

describe('edge-runtime VM (edge-light build)', () => {
  let runtime;
  let bundleInputs;

  /**
   * Runs `body` (an async function body; `edgepg`, `url` and `webSocketUrl` are in scope) in the
   * VM and resolves to its decoded result. A rejection comes back as `{ error }`.
   */
  async function inVm(body, url = env('EDGEPG_URL_BOUNCER')) {
    runtime.context.__input = JSON.stringify({ url, webSocketUrl: `${env('EDGEPG_WS_URL')}?address={host}:{port}` });
    const json = await runtime.evaluate(`(async () => {
      const { url, webSocketUrl } = JSON.parse(__input);
      try {
        const value = await (async () => { ${body} })();
        return __encode(value === undefined ? null : value);
      } catch (e) {
        return __encode(e instanceof Error ? e : new Error(String(e)));
      }
    })()`);
    return decode(json);
  }

  before(async () => {
    const entry = require.resolve('edgepg'); // proves the package resolves; bundling uses edge-light
    const built = await esbuild.build({
      stdin: { contents: "export * from 'edgepg';", resolveDir: dirname(entry), loader: 'js' },
      bundle: true,
      write: false,
      platform: 'neutral',
      format: 'iife',
      globalName: 'edgepg',
      conditions: ['edge-light'],
      mainFields: ['module', 'main'],
      target: 'es2022',
      metafile: true,
      logLevel: 'silent',
      plugins: [wasmModulePlugin],
    });
    bundleInputs = Object.keys(built.metafile.inputs);
    const wasmPath = join(dirname(require.resolve('edgepg/package.json')), 'dist/wasm/edgepg_bg.wasm');
    const module = await WebAssembly.compile(await readFile(wasmPath));

    runtime = new EdgeRuntime({ codeGeneration: { strings: false, wasm: false }, extend: trackTimers });
    runtime.context.__EDGEPG_WASM = module;
    runtime.evaluate(built.outputFiles[0].text);
    runtime.evaluate(ENCODE);
  });

  after(async () => {
    if (!runtime) return;
    await runtime.evaluate('globalThis.__pools ? Promise.all(__pools.map((p) => p.end())) : null');
    runtime.context.__clearPendingTimers();
  });

  test('the bundle is the edge-light entry, with no Node built-ins', () => {
    assert.ok(bundleInputs.some((f) => f.endsWith('edgepg/dist/edge.js')), `inputs: ${bundleInputs}`);
    assert.ok(!bundleInputs.some((f) => /dist\/(node|browser|workerd)\.js$/.test(f)), `inputs: ${bundleInputs}`);
    assert.ok(bundleInputs.some((f) => f.endsWith('edgepg_bg.wasm?module')), 'the wasm came in as a ?module import');
  });

  test('the VM is an edge runtime that refuses to compile wasm from bytes', () => {
    assert.equal(runtime.evaluate('typeof EdgeRuntime'), 'string');
    assert.equal(runtime.evaluate('typeof WebSocket'), 'function');
    assert.equal(runtime.evaluate("typeof process === 'undefined' || typeof process.versions?.node === 'undefined'"), true);
    assert.throws(() => runtime.evaluate('new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))'), /disallowed/);
  });

  test('queries through the proxy return rows to the host', async () => {
    const result = await inVm(`
      const db = edgepg.createPool(url, { webSocketUrl });
      (globalThis.__pools ??= []).push(db);
      const rows = await db.sql\`SELECT 1 AS one, \${'edge'}::text AS s, \${"'; DROP TABLE x; --"}::text AS hostile\`;
      const q = await db.query('SELECT $1::int + 1 AS n', [41], { rowMode: 'array' });
      return { rows, arrays: q.rows, command: q.command, same: edgepg.createPool(url, { webSocketUrl }) === db };
    `);
    assert.deepEqual(result, {
      rows: [{ one: 1, s: 'edge', hostile: "'; DROP TABLE x; --" }],
      arrays: [[42]],
      command: 'SELECT',
      same: true,
    });
  });

  test('types map to the VM realm own Date, Uint8Array and BigInt', async () => {
    const result = await inVm(`
      const db = edgepg.createPool(url, { webSocketUrl });
      const [row] = await db.sql\`SELECT 9007199254740993::int8 AS big, '2024-01-02 03:04:05.678+02'::timestamptz AS at,
        '\\\\x00ff'::bytea AS bytes, '{"a":[1,null]}'::jsonb AS doc, 1.5::numeric AS num, '2024-02-29'::date AS d,
        '2024-01-02 03:04:05.5'::timestamp AS ts, ARRAY[[1,NULL],[3,4]]::int[] AS arr, 'NaN'::float8 AS nan, NULL::text AS nothing,
        \${new Date(Date.UTC(2020, 1, 3))}::timestamptz AS p_at, \${new Uint8Array([7, 8])}::bytea AS p_bytes, \${{ k: 'v' }}::jsonb AS p_doc,
        \${12345678901234567n}::int8 AS p_big, \${[['a', null], ['b', 'c']]}::text[] AS p_arr\`;
      return { row, realm: row.at instanceof Date && row.bytes instanceof Uint8Array && typeof row.big === 'bigint' };
    `);
    assert.deepEqual(result, {
      row: {
        big: 9007199254740993n,
        at: new Date(Date.UTC(2024, 0, 2, 1, 4, 5, 678)),
        bytes: new Uint8Array([0, 255]),
        doc: { a: [1, null] },
        num: '1.5',
        d: '2024-02-29',
        ts: '2024-01-02T03:04:05.5',
        arr: [[1, null], [3, 4]],
        nan: NaN,
        nothing: null,
        p_at: new Date(Date.UTC(2020, 1, 3)),
        p_bytes: new Uint8Array([7, 8]),
        p_doc: { k: 'v' },
        p_big: 12345678901234567n,
        p_arr: [['a', null], ['b', 'c']],
      },
      realm: true,
    });
  });

  test('errors are PostgresError and ConnectionError inside the VM', async () => {
    const pg = await inVm(`
      const db = edgepg.createPool(url, { webSocketUrl });
      await db.sql\`SELECT 1/0\`;
    `);
    assert.equal(pg.error.isPostgresError, true);
    assert.equal(pg.error.code, '22012');
    assert.equal(pg.error.severity, 'ERROR');

    const refused = await inVm(`
      const db = edgepg.createPool('postgres://u:pw@127.0.0.1:1/db', { webSocketUrl, max: 1 });
      try { await db.sql\`SELECT 1\`; } finally { await db.end(); }
    `);
    assert.equal(refused.error.isConnectionError, true);
    assert.equal(refused.error.code, 'refused');
  });

  test('transaction and batch', async () => {
    const result = await inVm(`
      const db = edgepg.createPool(url, { webSocketUrl });
      const committed = await db.transaction(async (tx) => {
        await tx.query('CREATE TEMP TABLE edge_tx (v int) ON COMMIT DROP');
        await tx.sql\`INSERT INTO edge_tx VALUES (\${1}), (\${2})\`;
        return tx.sql\`SELECT sum(v)::int AS total FROM edge_tx\`;
      });
      let rolledBack = null;
      try {
        await db.transaction(async (tx) => { await tx.sql\`SELECT 1\`; throw new Error('boom'); });
      } catch (e) { rolledBack = e.message; }
      const batch = await db.batch([db.sql\`SELECT \${1}::int AS a\`, db.sql\`SELECT \${'b'}::text AS b\`]);
      let batchError = null;
      try { await db.batch([db.sql\`SELECT 1\`, db.sql\`SELECT 1/0\`]); } catch (e) { batchError = e.code; }
      let savepoint = null;
      try { await db.query('SAVEPOINT edge_probe'); } catch (e) { savepoint = e.code; }
      return { committed, rolledBack, batch, batchError, savepoint, busy: db.stats().busy };
    `);
    assert.deepEqual(result, {
      committed: [{ total: 3 }],
      rolledBack: 'boom',
      batch: [[{ a: 1 }], [{ b: 'b' }]],
      batchError: '22012',
      savepoint: '25P01',
      busy: 0,
    });
  });

  test('pool: 50 concurrent queries stay within max', async () => {
    const result = await inVm(`
      const db = edgepg.createPool(url, { webSocketUrl, max: 3 });
      (globalThis.__pools ??= []).push(db);
      const all = await Promise.all(Array.from({ length: 50 }, (_, i) => db.sql\`SELECT \${i}::int AS i\`));
      return { ok: all.every((rows, i) => rows[0].i === i), stats: db.stats() };
    `);
    assert.equal(result.ok, true);
    assert.ok(result.stats.created <= 3, JSON.stringify(result.stats));
    assert.equal(result.stats.busy, 0);
    assert.ok(result.stats.reused >= 47, JSON.stringify(result.stats));
  });

  test('direct to Postgres through the proxy, then end()', async () => {
    const result = await inVm(`
      const db = edgepg.createPool(url, { webSocketUrl, max: 1 });
      const rows = await db.sql\`SELECT current_user AS u\`;
      await db.end();
      let after = null;
      try { await db.sql\`SELECT 1\`; } catch (e) { after = e.code; }
      return { rows, after, open: db.stats().open };
    `, env('EDGEPG_URL_SCRAM'));
    assert.deepEqual(result, { rows: [{ u: 'edgepg_scram' }], after: 'pool_closed', open: 0 });
  });

  test('end() leaves no timer pending in the isolate', async () => {
    const result = await inVm(`
      const mark = __timerMark();
      const db = edgepg.createPool(url, { webSocketUrl, max: 2, idleTimeoutMs: 30000, acquireTimeoutMs: 20000 });
      await Promise.all([db.sql\`SELECT 1\`, db.sql\`SELECT 2\`, db.sql\`SELECT 3\`, db.transaction(async (tx) => tx.sql\`SELECT 4\`)]);
      await db.end();
      await new Promise((resolve) => setTimeout(resolve, 50));
      return __pendingTimers(mark);
    `);
    // Anything still scheduled after end() holds the isolate (and this process) open.
    assert.deepEqual(result, [], `timers still pending after end(), in ms: ${result}`);
  });
});

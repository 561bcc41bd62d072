// Measure 7: what each driver costs to ship to an edge runtime. Each entry is bundled with
// esbuild (ESM, minified, the runtime's export conditions), then gzip -9 (zlib level 9).
//
//   edgepg     `createPool` from its edge-light entry (dist/edge.js + its imports), plus
//              the .wasm it imports (`?module`, kept out of the JS bundle and gzipped on its
//              own); the workerd entry the same way, for reference
//   neon       `Pool` from @neondatabase/serverless, platform browser (self-contained)
//   postgres   postgres.js' workerd entry (cf/src); node:* builtins it imports are left
//              external (a Worker gets them from nodejs_compat, not from the bundle)
//   pg         pg (with pg-cloudflare), platform browser; Node builtins left external
//
// Node builtins left external are not counted: a runtime without them needs polyfills that
// would make the peer larger, never smaller.
//
//   node bundle.mjs      prints the sizes as JSON

import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const gz = (buf) => gzipSync(buf, { level: 9 }).length;
const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const ENTRIES = [
  {
    id: 'edgepg',
    label: 'edgepg (edge-light entry: JS + .wasm)',
    code: `export { createPool } from 'edgepg';`,
    conditions: ['edge-light'],
    platform: 'neutral',
    external: ['*.wasm?module', '*.wasm', 'cloudflare:sockets'],
    wasm: true,
  },
  {
    id: 'edgepg-workerd',
    label: 'edgepg (workerd entry: JS + .wasm)',
    code: `export { createPool } from 'edgepg';`,
    conditions: ['workerd'],
    platform: 'neutral',
    external: ['*.wasm', 'cloudflare:sockets'],
    wasm: true,
  },
  {
    id: 'neon',
    label: '@neondatabase/serverless (Pool)',
    code: `export { Pool } from '@neondatabase/serverless';`,
    conditions: ['browser', 'import'],
    platform: 'browser',
    external: [],
  },
  {
    id: 'postgres',
    label: 'postgres.js (workerd entry; node:* external)',
    code: `export { default } from 'postgres';`,
    conditions: ['workerd', 'import'],
    platform: 'neutral',
    external: ['cloudflare:sockets', ...nodeBuiltins],
  },
  {
    id: 'pg',
    label: 'pg (browser platform; Node builtins external)',
    code: `export { Pool } from 'pg';`,
    conditions: ['workerd', 'browser', 'import'],
    platform: 'browser',
    external: ['cloudflare:sockets', 'pg-native', ...nodeBuiltins],
  },
];

export async function bundleSizes() {
  const out = {};
  const dir = join(here, '.bundles');
  mkdirSync(dir, { recursive: true });
  for (const e of ENTRIES) {
    const r = await esbuild.build({
      stdin: { contents: e.code, resolveDir: here, loader: 'js' },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: e.platform,
      conditions: e.conditions,
      mainFields: e.platform === 'browser' ? ['browser', 'module', 'main'] : ['module', 'main'],
      external: e.external,
      target: 'es2022',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    const js = r.outputFiles[0].contents;
    writeFileSync(join(dir, `${e.id}.js`), js);
    const entry = { label: e.label, jsBytes: js.length, jsGzip: gz(js), externalImports: externalsOf(r.metafile) };
    if (e.wasm) {
      const wasm = readFileSync(join(here, 'node_modules/edgepg/dist/wasm/edgepg_bg.wasm'));
      entry.wasmBytes = wasm.length;
      entry.wasmGzip = gz(wasm);
    }
    entry.totalGzip = entry.jsGzip + (entry.wasmGzip ?? 0);
    out[e.id] = entry;
  }
  return out;
}

function externalsOf(meta) {
  const set = new Set();
  for (const input of Object.values(meta.inputs)) {
    for (const imp of input.imports ?? []) if (imp.external) set.add(imp.path);
  }
  return [...set].sort();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await bundleSizes(), null, 1));
}

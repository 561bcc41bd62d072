// Summarizes the V8 CPU profiles (`node --cpu-prof`) in a directory: self time by category
// (edgepg's wasm, its wasm-bindgen glue, its TS layer, the peers' code, Node internals, GC)
// and the top functions by self time. Used for the "why" of a missed target.
//
//   node profile.mjs DIR     prints the summary as JSON

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function categoryOf(frame) {
  const { functionName: fn, url } = frame;
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'V8/native (program)';
  if (fn === '(root)') return 'root';
  if (url.startsWith('wasm://') || /^(wasm-function|\$func|js-to-wasm|wasm-to-js)/.test(fn)) return 'edgepg wasm';
  if (url.includes('/edgepg/dist/wasm/')) return 'edgepg wasm-bindgen glue (JS)';
  if (url.includes('/edgepg/dist/')) return 'edgepg TS layer (JS)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return 'Node internals';
  if (url.includes('/bench/')) return 'bench harness';
  if (url === '') return 'V8 builtins (no url)';
  return 'other';
}

export function summarizeProfile(dir, top = 15) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  const self = new Map();
  const cats = new Map();
  let total = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const selfUs = new Map();
    for (let i = 0; i < p.samples.length; i++) {
      const dt = p.timeDeltas[i + 1] ?? 0;
      selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + dt);
    }
    for (const [id, us] of selfUs) {
      const n = byId.get(id);
      const cat = categoryOf(n.callFrame);
      if (cat === 'idle' || cat === 'root') continue;
      total += us;
      cats.set(cat, (cats.get(cat) ?? 0) + us);
      const name = `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}${n.callFrame.url ? ':' + (n.callFrame.lineNumber + 1) : ''}`;
      const e = self.get(name) ?? { us: 0, cat };
      e.us += us;
      self.set(name, e);
    }
  }
  const pct = (us) => +((100 * us) / total).toFixed(1);
  let writes = 0;
  for (const [name, e] of self) if (/^(writeBuffer|writev|writeUtf8String|writeLatin1String) $/.test(name)) writes += e.us;
  return {
    files: files.length,
    busyMs: Math.round(total / 1000),
    writesMs: Math.round(writes / 1000),
    categories: [...cats].sort((a, b) => b[1] - a[1]).map(([cat, us]) => ({ cat, ms: Math.round(us / 1000), pct: pct(us) })),
    top: [...self].sort((a, b) => b[1].us - a[1].us).slice(0, top).map(([fn, e]) => ({ fn, cat: e.cat, ms: +(e.us / 1000).toFixed(1), pct: pct(e.us) })),
  };
}

function shortUrl(url) {
  if (!url) return '';
  const i = url.indexOf('node_modules/');
  if (i >= 0) return url.slice(i + 'node_modules/'.length);
  return url.replace(/^file:\/\/.*\/bench\//, 'bench/');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(summarizeProfile(process.argv[2]), null, 1));
}

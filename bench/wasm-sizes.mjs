// Where the .wasm's bytes go: code bytes per crate and the largest functions, read from a
// copy of edgepg's wasm that keeps its name section (scripts/bench.sh makes it with the
// same wasm-bindgen + wasm-opt -Oz steps as js/build.sh, minus --strip-debug, and checks
// the code is byte-identical to the shipped one). Evidence for the bundle-size measure.
//
//   node wasm-sizes.mjs FILE.wasm

import { readFileSync } from 'node:fs';

export function wasmSizes(file, top = 15) {
  const buf = readFileSync(file);
  let pos = 8;
  const u32 = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++];
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
      shift += 7;
    }
  };
  const sections = {};
  let imported = 0;
  let bodies = [];
  const names = new Map();
  while (pos < buf.length) {
    const id = buf[pos++];
    const size = u32();
    const start = pos;
    const end = pos + size;
    if (id === 0) {
      const nlen = u32();
      const name = buf.subarray(pos, pos + nlen).toString('utf8');
      pos += nlen;
      sections[`custom:${name}`] = (sections[`custom:${name}`] ?? 0) + size;
      if (name === 'name') {
        while (pos < end) {
          const sub = buf[pos++];
          const subSize = u32();
          const subEnd = pos + subSize;
          if (sub === 1) {
            const count = u32();
            for (let i = 0; i < count; i++) {
              const idx = u32();
              const l = u32();
              names.set(idx, buf.subarray(pos, pos + l).toString('utf8'));
              pos += l;
            }
          }
          pos = subEnd;
        }
      }
    } else {
      const label = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'datacount'][id] ?? `id${id}`;
      sections[label] = (sections[label] ?? 0) + size;
      if (id === 2) {
        const count = u32();
        for (let i = 0; i < count; i++) {
          for (let k = 0; k < 2; k++) {
            const len = u32(); // module, then field name
            pos += len;
          }
          const kind = buf[pos++];
          if (kind === 0) {
            imported++;
            u32();
          } else if (kind === 1) {
            pos++;
            const flags = u32();
            u32();
            if (flags & 1) u32();
          } else if (kind === 2) {
            const flags = u32();
            u32();
            if (flags & 1) u32();
          } else if (kind === 3) {
            pos += 2;
          } else if (kind === 4) {
            pos++;
            u32();
          }
        }
      } else if (id === 10) {
        const count = u32();
        for (let i = 0; i < count; i++) {
          const s = u32();
          bodies.push({ index: imported + i, size: s });
          pos += s;
        }
      }
    }
    pos = end;
    void start;
  }
  const crateOf = (name) => {
    if (!name) return '(unnamed)';
    let n = name.replace(/^<+/, '').replace(/^&/, '').replace(/^(dyn |mut )/, '');
    const m = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(n);
    if (!m) return '(other)';
    if (/^__wbindgen|^__wbg|^__externref|^wasm_bindgen/.test(n)) return 'wasm_bindgen';
    return m[1];
  };
  // edgepg's own code by module: the lowercase path segments after `edgepg`, at most two
  // (`edgepg::proto::connection::Connection::…` → `proto::connection`, `edgepg::pool::Pool` → `pool`).
  // A function's own name is no module: only segments with more after them count.
  const moduleOf = (name) => {
    const path = name.replace(/^<+/, '').split(' ')[0].replace(/::h[0-9a-f]{16}$/, '').replaceAll('::{{closure}}', '');
    const parts = path.split('::').slice(1, -1);
    const lower = [];
    for (const part of parts) {
      if (lower.length === 2 || !/^[a-z_][a-z0-9_]*$/.test(part)) break;
      lower.push(part);
    }
    return lower.join('::') || '(crate root)';
  };
  const crates = new Map();
  const modules = new Map();
  let code = 0;
  for (const b of bodies) {
    b.name = names.get(b.index) ?? '';
    const c = crateOf(b.name);
    crates.set(c, (crates.get(c) ?? 0) + b.size);
    if (c === 'edgepg') {
      const m = moduleOf(b.name);
      modules.set(m, (modules.get(m) ?? 0) + b.size);
    }
    code += b.size;
  }
  const total = buf.length - (sections['custom:name'] ?? 0);
  return {
    bytesWithoutNames: total,
    sections: Object.fromEntries(Object.entries(sections).filter(([k]) => k !== 'custom:name')),
    functions: bodies.length,
    codeBytes: code,
    crates: [...crates].sort((a, b) => b[1] - a[1]).slice(0, top).map(([crate, bytes]) => ({ crate, bytes, pct: +((100 * bytes) / code).toFixed(1) })),
    modules: [...modules].sort((a, b) => b[1] - a[1]).map(([module, bytes]) => ({ module, bytes })),
    topFunctions: bodies.sort((a, b) => b.size - a.size).slice(0, top).map((b) => ({ fn: b.name.replace(/::h[0-9a-f]{16}$/, ''), bytes: b.size })),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(wasmSizes(process.argv[2]), null, 1));
}

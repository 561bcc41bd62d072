#!/usr/bin/env bash
# Builds the npm package: the crate for wasm32 → wasm-bindgen (target web) → wasm-opt (npm
# binaryen; Debian's v108 emits broken modules) → pkg/ → TypeScript → dist/.
# Downloads nothing but npm packages; wasm-bindgen-cli must match Cargo.lock (scripts/setup.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$root"

log() { printf '[build] %s\n' "$*" >&2; }

[ -d "$here/node_modules/typescript" ] && [ -d "$here/node_modules/binaryen" ] || {
  log "npm install (js/)"
  (cd "$here" && npm install --no-audit --no-fund --loglevel=error >&2)
}

log "cargo build --profile wasm --target wasm32-unknown-unknown (no saslprep feature: the host does its NFKC)"
cargo build --quiet --lib --profile wasm --target wasm32-unknown-unknown --no-default-features

log "wasm-bindgen --target web"
rm -rf pkg
wasm-bindgen target/wasm32-unknown-unknown/wasm/edgepg.wasm \
  --target web --out-dir pkg --out-name edgepg

# Every entry passes the wasm itself (module or URL); the glue's own fallback
# `new URL('edgepg_bg.wasm', import.meta.url)` would make bundlers (Next's Turbopack) ship a
# second copy of the .wasm with every edge route.
sed -i "s|module_or_path = new URL('edgepg_bg.wasm', import.meta.url);|throw new Error('edgepg: pass the wasm module to init');|" pkg/edgepg.js
grep -q "new URL('edgepg_bg.wasm'" pkg/edgepg.js && { log "the wasm-bindgen glue changed: update the fallback patch"; exit 1; }

log "wasm-opt -Oz"
source "$root/scripts/lib/wasm-opt.sh"
"$here/node_modules/.bin/wasm-opt" "${WASM_OPT_FLAGS[@]}" --strip-debug pkg/edgepg_bg.wasm -o pkg/edgepg_bg.wasm

log "TypeScript"
rm -rf "$here/src/wasm" "$here/dist"
mkdir -p "$here/src/wasm"
cp pkg/edgepg.js pkg/edgepg.d.ts pkg/edgepg_bg.wasm "$here/src/wasm/"
(cd "$here" && ./node_modules/.bin/tsc -p tsconfig.json)
mkdir -p "$here/dist/wasm"
cp pkg/edgepg.js pkg/edgepg.d.ts pkg/edgepg_bg.wasm "$here/dist/wasm/"

wasm_gz=$(gzip -9c pkg/edgepg_bg.wasm | wc -c)
js_gz=$(cat pkg/edgepg.js "$here"/dist/core.js "$here"/dist/results.js "$here"/dist/errors.js "$here"/dist/edge.js | gzip -9c | wc -c)
log "size: edgepg_bg.wasm $(wc -c < pkg/edgepg_bg.wasm) bytes ($wasm_gz gzip); JS $js_gz gzip; total $((wasm_gz + js_gz)) bytes gzip"

#!/usr/bin/env bash
# Builds examples/rust-worker with worker-build, pointing it at installed tools (it would
# otherwise download wasm-bindgen, binaryen and esbuild, which this network refuses).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/examples/rust-worker"
export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export WASM_OPT_BIN="$root/js/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"
# Its own target dir: worker-build sets WASM_BINDGEN_USE_JS_SYS=1, which cargo does not track.
export CARGO_TARGET_DIR="$root/target/rust-worker"
for tool in "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
  [ -x "$tool" ] || { echo "[rust-worker] missing $tool: run npm install in js/ and at the root" >&2; exit 1; }
done
exec worker-build --release

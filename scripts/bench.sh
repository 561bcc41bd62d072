#!/usr/bin/env bash
# The benchmark: edgepg (the packed npm package, Node over TCP and over WebSocket, and in
# workerd) against pg, postgres.js and @neondatabase/serverless, on the local stack.
# Writes bench/RESULTS.md and bench/results.json. About 8-10 minutes on 2 cores.
#
#   scripts/bench.sh                      everything
#   scripts/bench.sh --rounds 3           fewer rounds (default 5); other options: bench/run.mjs
#   scripts/bench.sh --only main,bundle   only some measures (main, decode, bundle, workerd)
#
# Steps: build js/dist when it is missing or older than its sources (js/build.sh, under the
# same lock as scripts/test-js.sh); npm install bench/ when needed (registry only); pack
# js/ and install the tarball into bench/node_modules/edgepg; make a copy of the wasm that
# keeps its function names for the profiles (checked byte-identical in code); start the
# stack (scripts/stack.sh up); run bench/run.mjs. A benchmark, not a test: it asserts no
# timings and exits 0 whatever the numbers are.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js="$root/js"
bench="$root/bench"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node not found (Node 20 or newer is needed)"
command -v npm >/dev/null || die "npm not found"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || die "Node $(node --version) is too old"

# ---------------------------------------------------------------------------------------
# 1. js/dist, rebuilt only when stale (same rule and lock as scripts/test-js.sh)
# ---------------------------------------------------------------------------------------
source "$root/scripts/lib/js-dist.sh"

if ! build_js_if_stale; then
  [[ -f "$js/dist/node.js" && -f "$js/dist/wasm/edgepg_bg.wasm" ]] || die "js/build.sh failed and there is no js/dist to fall back on"
  log "WARNING: js/build.sh failed (a source file mid-edit?); benchmarking the existing js/dist"
fi

# ---------------------------------------------------------------------------------------
# 2. bench/ dependencies (npm registry), then the packed edgepg
# ---------------------------------------------------------------------------------------
stamp_deps="$(sha256sum "$bench/package.json" | cut -c1-16)"
if [[ "$(cat "$bench/node_modules/.bench-deps" 2>/dev/null || true)" != "$stamp_deps" ]]; then
  log "npm install in bench/"
  (cd "$bench" && npm install --no-audit --no-fund --loglevel=error >&2) || die "npm install in bench/ failed"
  printf '%s\n' "$stamp_deps" >"$bench/node_modules/.bench-deps"
  rm -f "$bench/node_modules/.edgepg-stamp"   # npm prunes what it did not install
fi

pack_dir="$(mktemp -d)"
trap 'rm -rf "$pack_dir"' EXIT
tarball="$(pack_js "$pack_dir")" || die "could not pack js/"
tar_hash="$(sha256sum "$tarball" | cut -c1-16)"
if [[ "$(cat "$bench/node_modules/.edgepg-stamp" 2>/dev/null || true)" != "$tar_hash" || ! -f "$bench/node_modules/edgepg/package.json" ]]; then
  log "installing edgepg-$tar_hash.tgz into bench/node_modules/edgepg"
  rm -rf "$bench/node_modules/edgepg"
  mkdir -p "$bench/node_modules/edgepg"
  tar -xzf "$tarball" -C "$bench/node_modules/edgepg" --strip-components=1
  printf '%s\n' "$tar_hash" >"$bench/node_modules/.edgepg-stamp"
fi

# ---------------------------------------------------------------------------------------
# 3. the same wasm with its name section, for readable profiles
# ---------------------------------------------------------------------------------------
# Rebuilt from target/…/edgepg.wasm with js/build.sh's wasm-bindgen and wasm-opt steps minus
# --strip-debug; used only if stripping its names gives back exactly the shipped module.
named_pkg="$bench/.profile-pkg/node_modules/edgepg"
shipped="$bench/node_modules/edgepg/dist/wasm/edgepg_bg.wasm"
shipped_hash="$(sha256sum "$shipped" | cut -c1-16)"
wasm_opt="$js/node_modules/.bin/wasm-opt"
raw_wasm="$root/target/wasm32-unknown-unknown/wasm/edgepg.wasm"
source "$root/scripts/lib/wasm-opt.sh"
if [[ "$(cat "$named_pkg/NAMED_OK" 2>/dev/null || true)" != "$shipped_hash" ]]; then
  rm -rf "$bench/.profile-pkg"
  if [[ -x "$wasm_opt" && -f "$raw_wasm" ]] && command -v wasm-bindgen >/dev/null; then
    log "making a named copy of the wasm for the profiles"
    tmp="$(mktemp -d)"
    if wasm-bindgen "$raw_wasm" --keep-debug --target web --out-dir "$tmp" --out-name edgepg \
       && "$wasm_opt" "${WASM_OPT_FLAGS[@]}" -g --strip-dwarf "$tmp/edgepg_bg.wasm" -o "$tmp/named.wasm" \
       && "$wasm_opt" "$tmp/named.wasm" --strip-debug --strip-producers "${WASM_FEATURES[@]}" -o "$tmp/a.wasm" \
       && "$wasm_opt" "$shipped" --strip-debug --strip-producers "${WASM_FEATURES[@]}" -o "$tmp/b.wasm" \
       && cmp -s "$tmp/a.wasm" "$tmp/b.wasm"; then
      mkdir -p "$(dirname "$named_pkg")"
      cp -R "$bench/node_modules/edgepg" "$named_pkg"
      cp "$tmp/named.wasm" "$named_pkg/dist/wasm/edgepg_bg.wasm"
      printf '%s\n' "$shipped_hash" >"$named_pkg/NAMED_OK"
    else
      log "the named wasm does not match the shipped one (target/ rebuilt since js/dist?): profiles show wasm-function[N]"
    fi
    rm -rf "$tmp"
  else
    log "no wasm-bindgen / wasm-opt / target wasm: profiles show wasm-function[N]"
  fi
fi

# ---------------------------------------------------------------------------------------
# 4. the stack, then the run
# ---------------------------------------------------------------------------------------
log "stack (Postgres, PgBouncer, WebSocket proxy)"
stack_env="$("$root/scripts/stack.sh" up)" || die "scripts/stack.sh up failed"
eval "$stack_env"

cd "$bench"
exec node run.mjs "$@"

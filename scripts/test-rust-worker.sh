#!/usr/bin/env bash
# Builds the Rust Worker (examples/rust-worker) with worker-build, serves it with `wrangler dev`
# against the local stack, runs its tests, and fails if the runtime ever logged a cross-request
# I/O error.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '[rust-worker] %s\n' "$*" >&2; }

if ! command -v worker-build >/dev/null; then
  log "installing worker-build 0.8.7 (about 6 minutes, once)"
  cargo install worker-build --version 0.8.7 >&2
fi
[ -x node_modules/.bin/wrangler ] || npm install --no-audit --no-fund --loglevel=error >&2
[ -x js/node_modules/.bin/wasm-opt ] || (cd js && npm install --no-audit --no-fund --loglevel=error >&2)
eval "$(scripts/stack.sh up)"

scripts/build-rust-worker.sh >&2
# shellcheck source=lib/ports.sh
. scripts/lib/ports.sh
logfile="$(mktemp /tmp/edgepg-rust-worker.XXXXXX.log)"
wrangler_pid=""
port=""
trap 'kill $wrangler_pid 2>/dev/null || true; [ -z "$port" ] || pkill -f "wrangler dev --port $port" 2>/dev/null || true' EXIT
start_wrangler() {
  port="$(free_port)"
  local inspector_port
  inspector_port="$(free_port "$port")"
  (cd examples/rust-worker && WRANGLER_SEND_METRICS=false CI=true exec "$root/node_modules/.bin/wrangler" dev \
    --port "$port" --inspector-port "$inspector_port" --ip 127.0.0.1 \
    --var "DATABASE_URL:${EDGEPG_URL_BOUNCER}?sslmode=disable" >"$logfile" 2>&1) &
  wrangler_pid=$!
}
start_wrangler
attempts=1
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/stats" >/dev/null 2>&1 && break
  if ! kill -0 "$wrangler_pid" 2>/dev/null; then
    if retry_on_port_clash "$logfile" "$wrangler_pid" attempts; then
      log "a port was taken meanwhile: starting wrangler dev again on other ports"
      start_wrangler
      continue
    fi
    tail -30 "$logfile" >&2; log "wrangler dev exited"; exit 1
  fi
  sleep 1
done
curl -sf "http://127.0.0.1:$port/stats" >/dev/null || { tail -30 "$logfile" >&2; log "wrangler dev did not answer"; exit 1; }

RUST_WORKER_URL="http://127.0.0.1:$port" node --test examples/rust-worker/test.mjs
if grep -q "on behalf of a different request" "$logfile"; then
  log "the runtime logged a cross-request I/O error:"; grep "different request" "$logfile" | head -5 >&2
  exit 1
fi
log "no cross-request I/O error in the runtime's log"

#!/usr/bin/env bash
# Tests the Next.js example (examples/nextjs) end to end: `next build`, then `next start` on a
# free port against the real stack (Postgres, PgBouncer in transaction mode, the WebSocket
# proxy), then examples/nextjs/test/*.test.mjs over HTTP, on both route runtimes (edge:
# WebSocket through edgepg-proxy; Node.js: TCP).
#
#   scripts/test-nextjs.sh
#
# Builds js/dist first when it is missing or older than its sources (js/build.sh, 1-2 min
# cold), installs the example's npm dependencies when they are missing or package.json
# changed, and starts the stack (scripts/stack.sh up). The server's log is kept in
# $EDGEPG_NEXTJS_LOG (default /tmp/edgepg-nextjs-start.log) and its tail printed on failure.
# Offline apart from the npm registry; telemetry off. A missing tool or service is a failure,
# never a skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js="$root/js"
app="$root/examples/nextjs"
server_log="${EDGEPG_NEXTJS_LOG:-/tmp/edgepg-nextjs-start.log}"
ready_secs=60
export NEXT_TELEMETRY_DISABLED=1

log() { printf '[test-nextjs] %s\n' "$*" >&2; }
die() { printf '[test-nextjs] ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node not found (Node 20.9 or newer is needed)"
command -v npm >/dev/null || die "npm not found"
command -v setsid >/dev/null || die "setsid not found (util-linux)"
command -v flock >/dev/null || die "flock not found (util-linux)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 9) ? 0 : 1)' \
  || die "Node $(node --version) is too old: Next.js 16 needs Node >= 20.9"

# One run at a time: two would overwrite each other's .next/.
exec 7>/tmp/edgepg-nextjs-test.lock
flock -n 7 || { log "another scripts/test-nextjs.sh is running: waiting for it"; flock 7; }

# ---------------------------------------------------------------------------------------
# 1. js/dist, built when missing or stale (same rule and lock as scripts/test-js.sh)
# ---------------------------------------------------------------------------------------
# shellcheck source=lib/js-dist.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/js-dist.sh"

# Held until the end, shared: a js/build.sh started by scripts/test-js.sh (which takes it
# exclusively) waits until this app is built and tested instead of deleting js/dist under it.
exec 8>/tmp/edgepg-js-build.lock
flock 8
if dist_stale; then
  log "building the package (js/build.sh)"
  bash "$js/build.sh"
fi
flock -s 8

# ---------------------------------------------------------------------------------------
# 2. the example's npm dependencies (edgepg is a symlink to js/, so js/dist is picked up live)
# ---------------------------------------------------------------------------------------
stamp="$(cat "$app/package.json" "$app/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16) $(node --version)"
if [[ "$(cat "$app/node_modules/.edgepg-stamp" 2>/dev/null || true)" != "$stamp" \
      || ! -x "$app/node_modules/.bin/next" || ! -f "$app/node_modules/edgepg/dist/edge.js" ]]; then
  log "npm install (examples/nextjs)"
  (cd "$app" && npm install --no-audit --no-fund --prefer-offline --loglevel=error >&2) \
    || die "npm install in examples/nextjs failed"
  [[ -f "$app/node_modules/edgepg/dist/edge.js" ]] || die "examples/nextjs/node_modules/edgepg does not lead to js/dist"
  # package-lock.json may have just been written: stamp what is there now.
  stamp="$(cat "$app/package.json" "$app/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16) $(node --version)"
  printf '%s\n' "$stamp" >"$app/node_modules/.edgepg-stamp"
else
  log "reusing examples/nextjs/node_modules"
fi

# ---------------------------------------------------------------------------------------
# 3. the stack
# ---------------------------------------------------------------------------------------
log "stack (Postgres, PgBouncer, WebSocket proxy)"
stack_env="$("$root/scripts/stack.sh" up)" || die "scripts/stack.sh up failed"
eval "$stack_env"
[[ -n "${EDGEPG_URL_BOUNCER:-}" ]] || die "the stack exported no EDGEPG_URL_BOUNCER"
[[ -n "${EDGEPG_WS_URL:-}" ]] || die "the stack exported no EDGEPG_WS_URL (is edgepg-proxy up?)"
export DATABASE_URL="$EDGEPG_URL_BOUNCER" EDGEPG_WS_URL

# ---------------------------------------------------------------------------------------
# 4. next build, next start
# ---------------------------------------------------------------------------------------
cd "$app"
log "next build"
build_start=$SECONDS
./node_modules/.bin/next build >&2 || die "next build failed"
log "next build took $((SECONDS - build_start)) s"

# shellcheck source=lib/ports.sh
. "$root/scripts/lib/ports.sh"
port="${EDGEPG_NEXTJS_PORT:-$(free_port)}"
base="http://127.0.0.1:$port"

server_pid=""
stop_server() {
  [[ -n "$server_pid" ]] || return 0
  # setsid made the server a process group leader: this ends it and its workers.
  kill -TERM -- "-$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
show_log() { log "last lines of $server_log:"; tail -n 40 "$server_log" >&2 || true; }
trap 'status=$?; (( status == 0 )) || show_log; stop_server; exit $status' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "next start on $base (log: $server_log)"
setsid ./node_modules/.bin/next start --hostname 127.0.0.1 --port "$port" >"$server_log" 2>&1 &
server_pid=$!

answers() {
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$1"
}
deadline=$((SECONDS + ready_secs))
until answers "$base/"; do
  kill -0 "$server_pid" 2>/dev/null || die "next start exited before answering"
  (( SECONDS < deadline )) || die "next start did not answer on $base within ${ready_secs} s"
  sleep 0.3
done

# ---------------------------------------------------------------------------------------
# 5. the tests
# ---------------------------------------------------------------------------------------
files=(test/*.test.mjs)
[[ -f "${files[0]}" ]] || die "no test files in examples/nextjs/test"
log "node --test ${files[*]}"
NEXTJS_URL="$base" node --test --test-reporter=spec "${files[@]}"

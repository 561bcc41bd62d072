#!/usr/bin/env bash
# Runs edgepg on Cloudflare Workers, locally: the demo Worker (worker/index.js, wrangler.toml)
# under `wrangler dev` (local mode, no account) against the real stack (PostgreSQL and
# PgBouncer from scripts/stack.sh), then tests/workers/*.test.mjs against it over HTTP.
# The Worker imports the real package by name (`edgepg`, installed from js/ by the root
# package.json; resolved through its `workerd` export condition).
#
#   scripts/test-workers.sh
#
# Steps: js/build.sh when js/dist is missing or older than its sources → root `npm install`
# when needed (wrangler; edgepg copied from js/) → the stack → wrangler dev on a free port, logging to
# $EDGEPG_WORKERS_DIR/wrangler.log (default /tmp/edgepg-workers) → node --test → stop wrangler
# → fail if the wrangler log shows a cross-request I/O error, an uncaught error or a password.
# A missing tool or service, or a wrangler that does not start, is a failure, never a skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js="$root/js"
work="${EDGEPG_WORKERS_DIR:-/tmp/edgepg-workers}"
start_timeout=90   # seconds for wrangler dev to answer (about 3 s when warm)

log() { printf '[test-workers] %s\n' "$*" >&2; }
die() { printf '[test-workers] ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node not found (Node 20 or newer is needed)"
command -v npm >/dev/null || die "npm not found"
command -v curl >/dev/null || die "curl not found"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || die "Node $(node --version) is too old: wrangler 4 needs Node >= 20"
case "$work" in /*) ;; *) die "EDGEPG_WORKERS_DIR must be an absolute path" ;; esac
[[ "$work" != "/" && "$work" != "/tmp" && "$work" != "$root"* ]] || die "refusing to use $work as the work dir"
mkdir -p "$work"

# ---------------------------------------------------------------------------------------
# 1. js/dist, built when missing or stale, under the lock scripts/test-js.sh takes (one build
#    at a time), which stays held until node_modules/edgepg holds a copy of it (step 2).
# ---------------------------------------------------------------------------------------
# shellcheck source=lib/js-dist.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/js-dist.sh"

exec 8>/tmp/edgepg-js-build.lock
log "waiting for the js build lock (/tmp/edgepg-js-build.lock)"
flock -w 900 8 || die "another build held /tmp/edgepg-js-build.lock for 15 minutes"
if dist_stale; then
  log "building the package (js/build.sh)"
  bash "$js/build.sh" || die "js/build.sh failed"
fi

# ---------------------------------------------------------------------------------------
# 2. root dev dependencies: wrangler, and edgepg from js/. Always `--install-links`: edgepg is
#    then packed and copied into node_modules/edgepg (dist/ + package.json, what a user gets)
#    instead of symlinked. A symlinked file: dependency makes npm reconcile js/node_modules as
#    part of the root tree, and a root `npm install` then deletes js/'s devDependencies
#    (typescript, binaryen, ...) out from under js/build.sh and scripts/test-js.sh. wrangler
#    bundles the copy, so a later rebuild of js/dist cannot restart the Worker (a new
#    isolate) in the middle of the tests.
# ---------------------------------------------------------------------------------------
npm_root_install() {
  (cd "$root" && npm install --install-links --no-audit --no-fund --prefer-offline --loglevel=error >&2) \
    || die "npm install at the repo root failed"
}
deps_ok() {
  [[ -x "$root/node_modules/.bin/wrangler" && -f "$root/node_modules/edgepg/package.json" ]] || return 1
  [[ ! -L "$root/node_modules/edgepg" ]] || return 1
  [[ ! "$root/package.json" -nt "$root/node_modules/.package-lock.json" ]] || return 1
  [[ ! -f "$root/package-lock.json" || ! "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]]
}
if ! deps_ok; then
  log "npm install (repo root: wrangler; edgepg from js/)"
  [[ -L "$root/node_modules/edgepg" ]] && rm -f "$root/node_modules/edgepg"
  npm_root_install
fi
wrangler="$root/node_modules/.bin/wrangler"
[[ -x "$wrangler" ]] || die "wrangler missing after npm install"

# The installed copy must be this js/dist and js/package.json.
if ! diff -rq "$js/dist" "$root/node_modules/edgepg/dist" >/dev/null 2>&1 \
   || ! cmp -s "$js/package.json" "$root/node_modules/edgepg/package.json"; then
  log "node_modules/edgepg differs from js/: reinstalling it"
  rm -rf "$root/node_modules/edgepg"
  npm_root_install
  diff -rq "$js/dist" "$root/node_modules/edgepg/dist" >/dev/null || die "node_modules/edgepg/dist still differs from js/dist"
fi
flock -u 8
exec 8>&-

# ---------------------------------------------------------------------------------------
# 3. the stack. This suite does not use the WebSocket proxy: when a built one exists, hand it
#    to stack.sh so `up` does not wait on a cargo rebuild of it.
# ---------------------------------------------------------------------------------------
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
if [[ -z "${EDGEPG_PROXY_BIN:-}" && -x "$target_dir/release/edgepg-proxy" ]]; then
  export EDGEPG_PROXY_BIN="$target_dir/release/edgepg-proxy"
fi
log "stack (PostgreSQL, PgBouncer)"
stack_env="$("$root/scripts/stack.sh" up)" || die "scripts/stack.sh up failed"
eval "$stack_env"
for v in EDGEPG_URL_BOUNCER EDGEPG_URL_SCRAM EDGEPG_URL_ADMIN EDGEPG_URL_BOUNCER_ADMIN EDGEPG_STACK_DIR; do
  [[ -n "${!v:-}" ]] || die "$v is not set after scripts/stack.sh up"
done

psql_bin="$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n1 || true)"
[[ -x "$psql_bin" ]] || die "psql not found (the tests count server backends with it)"
export EDGEPG_PSQL="$psql_bin"

# ---------------------------------------------------------------------------------------
# 4. wrangler dev on free ports. The URLs go in through an env file: wrangler then treats them
#    as secrets and prints "(hidden)" instead of the password. application_name tags this run's
#    connections so the tests count only them in pg_stat_activity / PgBouncer's SHOW CLIENTS.
# ---------------------------------------------------------------------------------------
# shellcheck source=lib/ports.sh
. "$root/scripts/lib/ports.sh"
export EDGEPG_WORKERS_APP_BOUNCER="edgepg-workers-$$-bouncer"
export EDGEPG_WORKERS_APP_DIRECT="edgepg-workers-$$-direct"
vars_file="$work/worker-$$.env"
wrangler_log="$work/wrangler.log"
state_dir="$work/state"
umask 077
{
  printf 'DATABASE_URL=%s?sslmode=disable&application_name=%s\n' "$EDGEPG_URL_BOUNCER" "$EDGEPG_WORKERS_APP_BOUNCER"
  printf 'DIRECT_DATABASE_URL=%s?sslmode=disable&application_name=%s\n' "$EDGEPG_URL_SCRAM" "$EDGEPG_WORKERS_APP_DIRECT"
} >"$vars_file"
umask 022

wrangler_pid=""
stop_wrangler() {
  [[ -n "$wrangler_pid" ]] || return 0
  # wrangler runs in its own process group (setsid): npm exec, node, workerd.
  kill -TERM -- "-$wrangler_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 -- "-$wrangler_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$wrangler_pid" 2>/dev/null || true
  wait "$wrangler_pid" 2>/dev/null || true
  wrangler_pid=""
}
cleanup() {
  stop_wrangler
  rm -f "$vars_file"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_wrangler() {
  port="${EDGEPG_WORKERS_PORT:-$(free_port)}"
  inspector_port="$(free_port "$port")"
  log "wrangler dev on 127.0.0.1:$port (log: $wrangler_log)"
  : >"$wrangler_log"
  (cd "$root" && exec setsid env WRANGLER_SEND_METRICS=false CI=true NO_COLOR=1 FORCE_COLOR=0 \
    "$wrangler" dev --ip 127.0.0.1 --port "$port" --inspector-port "$inspector_port" \
    --env-file "$vars_file" --persist-to "$state_dir" \
    >"$wrangler_log" 2>&1 </dev/null) &
  wrangler_pid=$!
}
start_wrangler
attempts=1

started=$SECONDS
deadline=$((SECONDS + start_timeout))
until curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/health"; do
  if ! kill -0 "$wrangler_pid" 2>/dev/null; then
    if retry_on_port_clash "$wrangler_log" "$wrangler_pid" attempts; then
      log "a port was taken meanwhile: starting wrangler dev again on other ports"
      wrangler_pid=""
      start_wrangler
      continue
    fi
    tail -n 40 "$wrangler_log" | sed 's/^/[test-workers]   /' >&2
    die "wrangler dev exited before answering"
  fi
  if (( SECONDS >= deadline )); then
    tail -n 40 "$wrangler_log" | sed 's/^/[test-workers]   /' >&2
    die "wrangler dev did not answer on 127.0.0.1:$port within ${start_timeout}s"
  fi
  sleep 0.2
done
log "wrangler dev is up after $((SECONDS - started))s"

# ---------------------------------------------------------------------------------------
# 5. the tests, then what the wrangler log says
# ---------------------------------------------------------------------------------------
export WORKER_URL="http://127.0.0.1:$port"
export EDGEPG_WORKERS_REPORT="$work/report.json"
rm -f "$EDGEPG_WORKERS_REPORT"
status=0
(cd "$root" && node --test --test-reporter=spec --test-concurrency=1 tests/workers/) || status=$?

stop_wrangler

# Lines that must never appear. ANSI colour codes are stripped first.
clean_log="$work/wrangler.clean.log"
sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' "$wrangler_log" >"$clean_log"
problems=0
check_absent() {
  local what="$1" mode="$2" pattern="$3" hits
  hits="$(grep "$mode" -n -- "$pattern" "$clean_log" || true)"
  if [[ -n "$hits" ]]; then
    log "FAIL: the wrangler log shows $what:"
    printf '%s\n' "$hits" | head -n 20 | sed 's/^/[test-workers]   /' >&2
    problems=$((problems + 1))
  else
    log "ok: the wrangler log shows no $what"
  fi
}
check_absent "cross-request socket use" -F 'Cannot perform I/O on behalf of a different request'
check_absent "uncaught or unhandled errors" -E 'Uncaught|Unhandled|unhandled rejection|\[ERROR\]'
check_absent "hung or cancelled requests" -E 'hanging Promise|never generate a response|different request context|was canceled'
check_absent "database password" -F "$(node -p 'decodeURIComponent(new URL(process.argv[1]).password)' "$EDGEPG_URL_BOUNCER")"
requests="$(grep -c -E '^\[wrangler:info\] (GET|POST) ' "$clean_log" || true)"
errors_500="$(grep -c -E '^\[wrangler:info\] (GET|POST) .* 500 ' "$clean_log" || true)"
log "wrangler served $requests requests, $errors_500 of them answered 500 (/error and /tx?fail=1 on purpose)"
if [[ -f "$EDGEPG_WORKERS_REPORT" ]]; then
  log "measurements (full: $EDGEPG_WORKERS_REPORT):"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const [k, v] of Object.entries(r)) console.log(`  ${k}: ${JSON.stringify(v)}`);
  ' "$EDGEPG_WORKERS_REPORT" | sed 's/^/[test-workers]/' >&2 || true
fi

(( status == 0 )) || die "node --test failed (exit $status); wrangler log: $wrangler_log"
(( problems == 0 )) || die "$problems problem(s) in the wrangler log: $wrangler_log"
log "all Workers tests passed"

#!/usr/bin/env bash
# Runs the suspension suite (tests/suspend/*.test.mjs): edgepg's pool when the instance that
# holds it is frozen (SIGSTOP) while its connections die (PgBouncer restarted, backends
# terminated), writes whose backend dies mid-statement, pool.idle(), and attachDatabasePool
# from the real @vercel/functions. On the packed npm artifact (`npm pack` → a throwaway
# project), against the real stack, which it starts itself.
#
#   scripts/test-suspend.sh                   every test file
#   scripts/test-suspend.sh idle.test.mjs     only these files (names inside tests/suspend/)
#
# Builds js/dist first when it is missing or older than its sources (js/build.sh, under the
# lock scripts/test-js.sh takes). The project lives in $EDGEPG_SUSPEND_TEST_DIR (default
# /tmp/edgepg-suspend-test), reinstalled only when the tarball changes. npm registry only.
# The tests restart the stack's PgBouncer (briefly: every client of it is disconnected) and
# terminate their own backends; the stack is left up at the end. A missing tool or service
# is a failure, never a skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js="$root/js"
suite="$root/tests/suspend"
work="${EDGEPG_SUSPEND_TEST_DIR:-/tmp/edgepg-suspend-test}"
# The test-only package: the real attachDatabasePool, pinned.
vercel_functions="@vercel/functions@3.9.9"

log() { printf '[test-suspend] %s\n' "$*" >&2; }
die() { printf '[test-suspend] ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node not found (Node 20 or newer is needed)"
command -v npm >/dev/null || die "npm not found"
command -v setpriv >/dev/null || die "setpriv not found (util-linux): needed to restart PgBouncer as the stack user"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || die "Node $(node --version) is too old: the package needs Node >= 20"
case "$work" in /*) ;; *) die "EDGEPG_SUSPEND_TEST_DIR must be an absolute path" ;; esac
[[ "$work" != "/" && "$work" != "/tmp" && "$work" != "$root"* ]] || die "refusing to use $work as the test project dir"

# ---------------------------------------------------------------------------------------
# 1. js/dist, built when missing or stale (the shared rule, scripts/lib/js-dist.sh; same lock
#    as scripts/test-js.sh)
# ---------------------------------------------------------------------------------------
# shellcheck source=lib/js-dist.sh
. "$root/scripts/lib/js-dist.sh"

build_js_if_stale

# ---------------------------------------------------------------------------------------
# 2. pack, and (re)install the tarball + @vercel/functions into the test project
# ---------------------------------------------------------------------------------------
stack_touched=0
cleanup() {
  # The tests restart PgBouncer: whatever happened, leave the stack up.
  if (( stack_touched )) && ! "$root/scripts/stack.sh" status >/dev/null 2>&1; then
    log "the stack is not healthy after the tests: scripts/stack.sh up"
    "$root/scripts/stack.sh" up >/dev/null || log "ERROR: scripts/stack.sh up failed"
  fi
}
trap cleanup EXIT
install_packed "$work" edgepg-suspend-tests "{\"${vercel_functions%@*}\": \"${vercel_functions##*@}\"}" \
  || die "could not install the packed package into $work"

rm -rf "$work/test"
mkdir -p "$work/test"
cp -R "$suite/." "$work/test/"

# ---------------------------------------------------------------------------------------
# 3. the stack, then the tests
# ---------------------------------------------------------------------------------------
# These tests use Postgres and PgBouncer, not the WebSocket proxy: an already built proxy is
# reused as it is rather than rebuilt with cargo on every run (stack.sh builds it when absent).
proxy_bin="${CARGO_TARGET_DIR:-$root/target}/release/edgepg-proxy"
if [[ -z "${EDGEPG_PROXY_BIN:-}" && -x "$proxy_bin" ]]; then export EDGEPG_PROXY_BIN="$proxy_bin"; fi
log "stack (Postgres, PgBouncer)"
stack_touched=1
stack_env="$("$root/scripts/stack.sh" up)" || die "scripts/stack.sh up failed"
eval "$stack_env"
[[ -n "${EDGEPG_URL_BOUNCER:-}" && -n "${EDGEPG_URL_ADMIN:-}" && -n "${EDGEPG_STACK_DIR:-}" ]] \
  || die "scripts/stack.sh up did not export the stack's variables"

files=()
if (( $# > 0 )); then
  for f in "$@"; do
    [[ -f "$work/test/$f" ]] || die "no test file tests/suspend/$f"
    files+=("test/$f")
  done
else
  for f in "$work"/test/*.test.mjs; do files+=("test/${f##*/}"); done
fi
(( ${#files[@]} > 0 )) || die "no test files in tests/suspend"

# One file at a time: they restart the shared PgBouncer and time idle timeouts.
log "node --test ${files[*]}"
cd "$work"
timeout --kill-after=10 600 node --test --test-reporter=spec --test-concurrency=1 --test-timeout=120000 "${files[@]}"

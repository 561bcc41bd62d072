#!/usr/bin/env bash
# Runs the JavaScript test suite (js/test/*.test.mjs) on the packed npm artifact, the way a
# user gets it: `npm pack` → install the tarball into a throwaway project → `node --test`, so
# tests import `edgepg` by name through the real `exports` map. Against the real stack
# (Postgres, PgBouncer, the WebSocket proxy), which it starts itself.
#
#   scripts/test-js.sh                 every test file
#   scripts/test-js.sh node.test.mjs   only these files (names inside js/test/)
#
# Builds js/dist first when it is missing or older than its sources (js/build.sh, 1-2 min
# cold). The test project lives in $EDGEPG_JS_TEST_DIR (default /tmp/edgepg-js-test) and is
# reinstalled only when the tarball or the test dependencies change. npm registry only.
# A missing tool or service is a failure, never a skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js="$root/js"
work="${EDGEPG_JS_TEST_DIR:-/tmp/edgepg-js-test}"
# The test-only packages, whose versions are pinned in js/package.json devDependencies.
test_deps=(ws edge-runtime esbuild)

log() { printf '[test-js] %s\n' "$*" >&2; }
die() { printf '[test-js] ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node not found (Node 20 or newer is needed)"
command -v npm >/dev/null || die "npm not found"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || die "Node $(node --version) is too old: the package needs Node >= 20"
case "$work" in /*) ;; *) die "EDGEPG_JS_TEST_DIR must be an absolute path" ;; esac
[[ "$work" != "/" && "$work" != "/tmp" && "$work" != "$root"* ]] || die "refusing to use $work as the test project dir"

# ---------------------------------------------------------------------------------------
# 1. build js/dist when missing or stale
# ---------------------------------------------------------------------------------------
# shellcheck source=lib/js-dist.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/js-dist.sh"

build_js_if_stale

# ---------------------------------------------------------------------------------------
# 2. pack, and (re)install the tarball + test dependencies into the test project
# ---------------------------------------------------------------------------------------
# "name": "version" for the test dependencies, from js/package.json.
deps_json="$(cd "$js" && node -e '
  const pkg = require("./package.json");
  const all = { ...pkg.dependencies, ...pkg.devDependencies };
  const out = {};
  for (const name of process.argv.slice(1)) {
    if (!all[name]) { console.error(`js/package.json has no devDependency ${name}`); process.exit(1); }
    out[name] = all[name];
  }
  console.log(JSON.stringify(out));
' "${test_deps[@]}")" || die "test dependencies missing from js/package.json"
install_packed "$work" edgepg-js-tests "$deps_json" || die "could not install the packed package into $work"

rm -rf "$work/test"
mkdir -p "$work/test"
cp -R "$js/test/." "$work/test/"

# ---------------------------------------------------------------------------------------
# 3. the stack, then the tests
# ---------------------------------------------------------------------------------------
log "stack (Postgres, PgBouncer, WebSocket proxy)"
stack_env="$("$root/scripts/stack.sh" up)" || die "scripts/stack.sh up failed"
eval "$stack_env"
[[ -n "${EDGEPG_WS_URL:-}" ]] || log "EDGEPG_WS_URL is not set: the WebSocket and edge-runtime tests will fail"

files=()
if (( $# > 0 )); then
  for f in "$@"; do
    [[ -f "$work/test/$f" ]] || die "no test file js/test/$f"
    files+=("test/$f")
  done
else
  for f in "$work"/test/*.test.mjs; do files+=("test/${f##*/}"); done
fi
(( ${#files[@]} > 0 )) || die "no test files in js/test"

# Each test gets 2 minutes; the whole run 15 (a test file whose process never exits would
# otherwise hold CI until its own limit).
log "node --test ${files[*]}"
cd "$work"
timeout --kill-after=10 900 node --test --test-reporter=spec --test-timeout=120000 "${files[@]}"

# Sourced by the scripts that use the npm package's build (js/dist).
#
# dist_stale: true (0) when js/dist is missing a file or older than anything js/build.sh reads.
# dist/core.js is written by tsc in the middle of js/build.sh, so anything newer than it means a
# rebuild. src/bin holds native binaries only (never in the wasm); js/src/wasm is the build's own
# output. Builds take /tmp/edgepg-js-build.lock (two would delete each other's pkg/ and dist/).
_js_dist_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

dist_stale() {
  local root="$_js_dist_root" js="$_js_dist_root/js" f newer
  for f in core.js node.js edge.js browser.js workerd.js wasm/edgepg.js wasm/edgepg_bg.wasm; do
    [[ -f "$js/dist/$f" ]] || { printf '[js] js/dist/%s is missing\n' "$f" >&2; return 0; }
  done
  newer="$(find "$root/src" "$js/src" "$root/Cargo.toml" "$root/Cargo.lock" "$js/build.sh" "$js/tsconfig.json" \
    \( -path "$root/src/bin" -o -path "$js/src/wasm" \) -prune -o \
    -type f -newer "$js/dist/core.js" -print -quit)"
  if [[ -n "$newer" ]]; then
    printf '[js] js/dist is older than %s\n' "${newer#"$root"/}" >&2
    return 0
  fi
  return 1
}

# build_js_if_stale: runs js/build.sh when dist_stale, one build at a time on this machine (two
# would delete each other's pkg/ and dist/).
build_js_if_stale() {
  dist_stale || return 0
  exec 8>/tmp/edgepg-js-build.lock
  flock 8
  if dist_stale; then
    printf '[js] building the package (js/build.sh)\n' >&2
    bash "$_js_dist_root/js/build.sh"
  fi
  flock -u 8
  exec 8>&-
}

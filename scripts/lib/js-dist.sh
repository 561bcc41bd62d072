# Sourced by the scripts that use the npm package's build (js/dist).
#
# dist_stale: true (0) when js/dist is missing a file or older than anything js/build.sh reads.
# dist/core.js is written by tsc in the middle of js/build.sh, so anything newer than it means a
# rebuild. src/bin holds native binaries only (never in the wasm); js/src/wasm is the build's own
# output. Builds take /tmp/edgepg-js-build.lock (two would delete each other's pkg/ and dist/).
_js_dist_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# What js/dist must hold (the package's entries and its wasm).
_js_dist_files=(core.js node.js edge.js browser.js workerd.js wasm/edgepg.js wasm/edgepg_bg.wasm)

dist_stale() {
  local root="$_js_dist_root" js="$_js_dist_root/js" f newer
  for f in "${_js_dist_files[@]}"; do
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
# would delete each other's pkg/ and dist/); returns the build's status.
build_js_if_stale() {
  local rc=0
  dist_stale || return 0
  exec 8>/tmp/edgepg-js-build.lock
  flock 8
  if dist_stale; then
    printf '[js] building the package (js/build.sh)\n' >&2
    bash "$_js_dist_root/js/build.sh" || rc=$?
  fi
  flock -u 8
  exec 8>&-
  return "$rc"
}

# pack_js DIR: `npm pack` js/ into DIR and print the tarball's path, after checking it holds
# every entry (a concurrent build may have deleted dist/ meanwhile).
pack_js() {
  local tarball listing f
  (cd "$_js_dist_root/js" && npm pack --silent --pack-destination "$1" >/dev/null) \
    || { printf '[js] ERROR: npm pack failed\n' >&2; return 1; }
  tarball="$(ls "$1"/*.tgz)"
  listing="$(tar -tzf "$tarball")"
  for f in "${_js_dist_files[@]}"; do
    if ! grep -qx "package/dist/$f" <<<"$listing"; then
      printf '[js] ERROR: the packed tarball lacks dist/%s (was js/dist being rebuilt meanwhile? run again)\n' "$f" >&2
      return 1
    fi
  done
  printf '%s\n' "$tarball"
}

# install_packed DIR NAME DEPS_JSON: the package as users get it. pack_js, then (re)install
# the tarball plus DEPS_JSON ({"name": "version"}, registry packages) into the throwaway
# project DIR (package.json name NAME, type module) when the tarball, the
# dependencies or Node's major version changed since the last install.
install_packed() {
  local dir="$1" name="$2" deps="$3" pack tarball hash stamp node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  pack="$(mktemp -d)"
  tarball="$(pack_js "$pack")" || { rm -rf "$pack"; return 1; }
  hash="$(sha256sum "$tarball" | cut -c1-16)"
  stamp="$hash $(printf '%s' "$deps" | sha256sum | cut -c1-16) node$node_major"
  mkdir -p "$dir"
  if [[ "$(cat "$dir/.stamp" 2>/dev/null || true)" == "$stamp" && -d "$dir/node_modules/edgepg" ]] \
     && node -e 'const fs = require("fs"); process.exit(Object.keys(JSON.parse(process.argv[1])).every((d) => fs.existsSync(`${process.argv[2]}/node_modules/${d}`)) ? 0 : 1)' "$deps" "$dir"; then
    printf '[js] reusing %s (edgepg-%s.tgz already installed)\n' "$dir" "$hash" >&2
    rm -rf "$pack"
    return 0
  fi
  printf '[js] installing edgepg-%s.tgz and %s into %s\n' "$hash" "$deps" "$dir" >&2
  rm -f "$dir/.stamp" "$dir"/edgepg-*.tgz "$dir/package-lock.json"
  rm -rf "$dir/node_modules/edgepg"
  cp "$tarball" "$dir/edgepg-$hash.tgz"
  rm -rf "$pack"
  node -e '
    const [dir, name, tgz, deps] = process.argv.slice(1);
    const pkg = { name, private: true, type: "module", dependencies: { edgepg: `file:./${tgz}`, ...JSON.parse(deps) } };
    require("fs").writeFileSync(`${dir}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
  ' "$dir" "$name" "edgepg-$hash.tgz" "$deps"
  (cd "$dir" && npm install --no-audit --no-fund --prefer-offline --loglevel=error >&2) \
    || { printf '[js] ERROR: npm install in %s failed\n' "$dir" >&2; return 1; }
  printf '%s\n' "$stamp" >"$dir/.stamp"
}

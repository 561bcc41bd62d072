#!/usr/bin/env bash
# Runs edgepg's cargo-fuzz targets one after another and prints, per target, the executions,
# the coverage libFuzzer reached and the crashes it found.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Targets: backend_message, type_decode, json_value, config_parse, connection
# (fuzz/fuzz_targets/).
# Corpora grow in fuzz/corpus/<target>/ (seeded from fuzz/seeds/<target>/); crashes land in
# fuzz/artifacts/<target>/. Exits 1 when any target crashed.
#
# Toolchain: cargo-fuzz needs nightly. A `nightly` rustup toolchain is used when present (one
# is installed with `rustup toolchain install nightly --profile minimal` if rustup can);
# otherwise the stable toolchain runs with RUSTC_BOOTSTRAP=1 and --sanitizer none. Override
# with FUZZ_TOOLCHAIN=nightly|bootstrap. cargo-fuzz itself comes from `cargo install
# cargo-fuzz` when missing. Builds keep debug assertions (integer overflow checks) on.
set -euo pipefail

SECS="${1:-60}"
[[ "$SECS" =~ ^[0-9]+$ ]] && (( SECS > 0 )) || { echo "usage: $0 [seconds-per-target] [target...]" >&2; exit 2; }
shift || true
ALL=(backend_message type_decode json_value config_parse connection)
TARGETS=("$@")
(( ${#TARGETS[@]} )) || TARGETS=("${ALL[@]}")

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
log() { printf '[fuzz] %s\n' "$*" >&2; }

command -v cargo-fuzz >/dev/null || {
  log "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked >&2
}

mode="${FUZZ_TOOLCHAIN:-}"
if [[ -z "$mode" ]]; then
  if rustup run nightly rustc --version >/dev/null 2>&1; then
    mode=nightly
  elif rustup toolchain install nightly --profile minimal >&2 2>&1 \
       && rustup run nightly rustc --version >/dev/null 2>&1; then
    mode=nightly
  else
    mode=bootstrap
  fi
fi
case "$mode" in
  nightly)   CARGO=(cargo +nightly fuzz); FLAGS=(-O -a); RUSTC_VER="$(rustup run nightly rustc --version)" ;;
  bootstrap) CARGO=(env RUSTC_BOOTSTRAP=1 cargo fuzz); FLAGS=(-O -a --sanitizer none); RUSTC_VER="$(rustc --version)" ;;
  *) echo "FUZZ_TOOLCHAIN must be nightly or bootstrap" >&2; exit 2 ;;
esac
log "toolchain: $mode ($RUSTC_VER); ${SECS}s per target"

"${CARGO[@]}" build "${FLAGS[@]}" >&2

summary=()
crashed=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
  logf="artifacts/$t/last-run.log"
  log "running $t for ${SECS}s (log: fuzz/$logf)"
  before="$(find "artifacts/$t" -type f ! -name '*.log' | wc -l)"
  rc=0
  "${CARGO[@]}" run "${FLAGS[@]}" "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$SECS" -print_final_stats=1 -max_len=4096 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="artifacts/$t/" >"$logf" 2>&1 || rc=$?
  after="$(find "artifacts/$t" -type f ! -name '*.log' | wc -l)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -n1)"
  status="$(grep -E '^#[0-9]+' "$logf" | tail -n1 || true)"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status")"
  corp="$(sed -nE 's/.* corp: ([0-9]+\/[^ ]+).*/\1/p' <<<"$status")"
  new=$((after - before))
  if (( rc != 0 || new > 0 )); then
    crashed=1
    log "$t: libFuzzer exited $rc with $new new artifact(s):"
    grep -E 'panicked|ERROR|SUMMARY' "$logf" | head -n 5 | sed 's/^/[fuzz]   /' >&2 || true
  fi
  summary+=("$(printf '%-16s %12s %8s %8s %14s %9s' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$new")")
done

printf '%-16s %12s %8s %8s %14s %9s\n' target executions cov ft corpus crashes
printf '%s\n' "${summary[@]}"
exit "$crashed"

#!/usr/bin/env bash
# Runs every test edgepg has, against a real stack (Postgres, PgBouncer) it starts itself.
#   scripts/test.sh            everything
# A missing tool or service is an error, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

steps=0
step() {
  if [ -n "${current:-}" ]; then steps=$((steps + 1)); fi
  current="$*"
  printf '\n==> %s\n' "$*" >&2
}
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\nFAILED at: %s\nsteps: %d passed, 1 failed\n" "$current" "$steps"; fi' EXIT

step "toolchain"
scripts/setup.sh

step "stack (Postgres, PgBouncer, WebSocket proxy)"
eval "$(scripts/stack.sh up)"

step "purity check of the protocol core"
scripts/check-purity.sh

step "formatting and lints (rustfmt, clippy: native, wasm32 with the workers feature)"
cargo fmt --check
cargo clippy --features native,proxy --all-targets -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features workers -- -D warnings

step "core builds for wasm32"
cargo build --lib --target wasm32-unknown-unknown

step "unit tests"
cargo test --lib --features native

step "integration tests against the stack (native TCP and the WebSocket proxy)"
cargo test --features native,proxy --test connect --test query --test types --test pool --test proxy -- --test-threads=2

step "faults, bad input, security and a short load run"
cargo test --features native,proxy --test faults_backends --test faults_peers --test faults_services --test bad_input_config --test bad_input_data --test security_proxy --test security_secrets --test security_auth --test load

step "wasm in headless Chromium through the proxy (wasm-pack test)"
CHROMEDRIVER="$(command -v chromedriver)" wasm-pack test --headless --chrome -- --test browser

step "npm package: packed, in Node (TCP and WebSocket) and in Vercel's edge-runtime"
scripts/test-js.sh

step "Suspension: frozen instances, stale sockets, attachDatabasePool"
scripts/test-suspend.sh

step "Cloudflare Worker (JavaScript) under wrangler dev"
scripts/test-workers.sh

step "Rust Worker (workers-rs) under wrangler dev"
scripts/test-rust-worker.sh

step "Next.js app: edge and Node.js routes"
scripts/test-nextjs.sh

step "done"
echo "steps: $steps passed, 0 failed"

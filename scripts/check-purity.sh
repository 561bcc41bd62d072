#!/usr/bin/env bash
# Fails if the sans-IO protocol core names a runtime, an I/O library, a clock or an RNG.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='wasm_bindgen|js_sys|web_sys|tokio|Instant::now|SystemTime::now|getrandom|thread_rng|rand::'
if hits=$(grep -rnE "$pattern" src/proto); then
  echo "purity check FAILED: src/proto must stay sans-IO, but it names:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "purity check passed: src/proto names no runtime, clock or RNG"

#!/usr/bin/env bash
# The demo: installs what is missing, builds, starts Postgres + PgBouncer + the WebSocket proxy,
# serves the edgepg Worker (wrangler dev) and the Next.js app (edge and Node.js routes), sends a
# few requests and prints the rows, round trips, milliseconds and the pools' reuse.
#
#   scripts/demo.sh            run it (Ctrl-C stops the servers; nothing else stays running
#                              but the stack: scripts/stack.sh down stops that)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

bold=$'\e[1m'; dim=$'\e[2m'; green=$'\e[32m'; red=$'\e[31m'; reset=$'\e[0m'
[ -t 1 ] || { bold=; dim=; green=; red=; reset=; }
started=$(date +%s)
logdir="$(mktemp -d /tmp/edgepg-demo.XXXXXX)"

step() {
  current="$1"
  printf '%s==>%s %s %s(%ss)%s\n' "$bold" "$reset" "$1" "$dim" "$(( $(date +%s) - started ))" "$reset"
}
fail() {
  printf '\n%sFAILED:%s %s\n' "$red" "$reset" "$current" >&2
  printf '%s\n' "$1" >&2
  exit 1
}
# Runs a long step with its output in a log; on failure shows the log's tail and a hint.
quiet() {
  local name="$1" hint="$2"; shift 2
  if ! "$@" >"$logdir/$name.log" 2>&1; then
    tail -25 "$logdir/$name.log" >&2
    fail "$hint (full log: $logdir/$name.log)"
  fi
}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

step "Installing what is missing (apt: postgresql, pgbouncer; cargo: wasm-bindgen-cli, wasm-pack; first run takes ~10 min)"
quiet setup "check the network access to the package registries, then rerun" scripts/setup.sh

step "Starting Postgres, PgBouncer (transaction mode) and the WebSocket proxy"
quiet stack "see the stack's logs under /tmp/edgepg-stack" scripts/stack.sh up
eval "$(scripts/stack.sh env)"

step "Building the wasm and the npm package"
. scripts/lib/js-dist.sh
if dist_stale 2>/dev/null; then
  quiet build "cargo or npm failed: see the log" bash js/build.sh
fi

step "Installing wrangler and the Next.js app's packages (npm)"
quiet npm-root "npm install failed at the repository root" npm install --install-links --no-audit --no-fund --prefer-offline
[ -x examples/nextjs/node_modules/.bin/next ] || quiet npm-next "npm install failed in examples/nextjs" npm --prefix examples/nextjs install --no-audit --no-fund

# shellcheck source=lib/ports.sh
. scripts/lib/ports.sh
wait_http() {
  for _ in $(seq 1 120); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}

step "Serving the Worker with wrangler dev (workerd, local mode)"
wport=$(free_port)
WRANGLER_SEND_METRICS=false CI=true node_modules/.bin/wrangler dev --port "$wport" \
  --inspector-port "$(free_port "$wport")" --ip 127.0.0.1 \
  --var "DATABASE_URL:${EDGEPG_URL_BOUNCER}?sslmode=disable&application_name=edgepg-demo" \
  >"$logdir/wrangler.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$wport/health" || { tail -20 "$logdir/wrangler.log" >&2; fail "wrangler dev did not start (log: $logdir/wrangler.log)"; }

step "Building and serving the Next.js app (next build, next start)"
(cd examples/nextjs && NEXT_TELEMETRY_DISABLED=1 quiet next-build "next build failed" node_modules/.bin/next build)
nport=$(free_port "$wport")
(cd examples/nextjs && DATABASE_URL="${EDGEPG_URL_BOUNCER}?sslmode=disable" EDGEPG_WS_URL="$EDGEPG_WS_URL" \
  NEXT_TELEMETRY_DISABLED=1 exec node_modules/.bin/next start -p "$nport" -H 127.0.0.1) >"$logdir/next.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$nport/" || { tail -20 "$logdir/next.log" >&2; fail "next start did not answer (log: $logdir/next.log)"; }

step "Sending requests"
node --input-type=module - "$wport" "$nport" <<'EOF'
const [wport, nport] = process.argv.slice(2);
const bold = process.stdout.isTTY ? '\x1b[1m' : '', reset = process.stdout.isTTY ? '\x1b[0m' : '';

async function call(base, path, init) {
  const t = performance.now();
  const res = await fetch(base + path, init);
  const body = await res.json();
  return { ms: performance.now() - t, status: res.status, body };
}
function statsOf(body) {
  return body?.pool?.stats ?? body?.pool ?? body?.stats ?? body;
}
function show(title, rows) {
  console.log(`\n${bold}${title}${reset}`);
  console.table(rows);
}

// The Worker: each request gets its own sockets (workerd closes them at the request's end);
// the isolate's pool keeps the learned auth method and SCRAM keys, so later handshakes take
// 2 round trips instead of 3.
const worker = `http://127.0.0.1:${wport}`;
const rows = [];
let lastRt = 0;
for (let i = 1; i <= 4; i++) {
  const r = await call(worker, '/');
  if (r.status !== 200) throw new Error(`Worker / failed: ${JSON.stringify(r.body)}`);
  const s = statsOf(r.body);
  rows.push({ request: i, user: r.body.user, now: r.body.now, 'db ms': r.body.ms, 'http ms': r.ms.toFixed(1),
    'round trips': s.roundTrips - lastRt, created: s.created, reused: s.reused });
  lastRt = s.roundTrips;
}
show('Cloudflare Worker (wrangler dev → PgBouncer), one query per request', rows);
const tx = await call(worker, '/tx');
const batch = await call(worker, '/batch');
show('Worker: a transaction and a batch', [
  { route: '/tx', status: tx.status, result: JSON.stringify(tx.body).slice(0, 80) },
  { route: '/batch', status: batch.status, result: JSON.stringify(batch.body).slice(0, 80) },
]);
const err = await call(worker, '/error');
console.log(`  /error → HTTP ${err.status} ${JSON.stringify(err.body)}`);

// Next.js: the Node.js runtime keeps one pool for the whole server, so connections are reused.
const next = `http://127.0.0.1:${nport}`;
for (const runtime of ['edge', 'node']) {
  const out = [];
  let rt = 0;
  for (let i = 1; i <= 4; i++) {
    const r = await call(next, `/api/${runtime}/read`);
    if (r.status !== 200) throw new Error(`${runtime} read failed: ${JSON.stringify(r.body)}`);
    const s = statsOf(r.body);
    out.push({ request: i, 'http ms': r.ms.toFixed(1), 'round trips': s.roundTrips - rt, open: s.open, created: s.created, reused: s.reused });
    rt = s.roundTrips;
  }
  show(`Next.js ${runtime} route (${runtime === 'edge' ? 'WebSocket → edgepg-proxy → PgBouncer' : 'TCP → PgBouncer'})`, out);
}
const burst = await Promise.all(Array.from({ length: 50 }, () => call(next, '/api/node/read')));
const ok = burst.filter((r) => r.status === 200).length;
const last = statsOf(burst.at(-1).body);
console.log(`\n${bold}50 concurrent requests to the Node.js route:${reset} ${ok}/50 ok; pool created ${last.created} connections (max ${last.max}), reused ${last.reused} times`);
EOF

printf '\n%sDemo done%s in %ss. The stack keeps running (scripts/stack.sh down stops it); logs: %s\n' \
  "$green" "$reset" "$(( $(date +%s) - started ))" "$logdir"

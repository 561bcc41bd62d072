#!/usr/bin/env bash
# Restarts the stack's PgBouncer: SIGINT (safe shutdown: it closes every client connection),
# then starts it again exactly as scripts/stack.sh does (`pgbouncer -d <ini>` as the stack
# user via setpriv, from /, stderr to start.err), under the stack's lock so a concurrent
# `scripts/stack.sh up` never races it. Prints "<old pid> <new pid>" once PgBouncer serves
# `SELECT 1` again. Needs the stack's env (EDGEPG_STACK_DIR, EDGEPG_BOUNCER_PORT).
set -euo pipefail

dir="${EDGEPG_STACK_DIR:?run scripts/stack.sh up and export its env}"
port="${EDGEPG_BOUNCER_PORT:-56432}"
user="${EDGEPG_STACK_USER:-postgres}"
bnc="$dir/pgbouncer"
ini="$bnc/pgbouncer.ini"
pidfile="$bnc/pgbouncer.pid"
pgbouncer="$(command -v /usr/sbin/pgbouncer || command -v pgbouncer)"
psql="/usr/lib/postgresql/15/bin/psql"
[[ -x "$psql" ]] || psql="$(command -v psql)"

die() { printf '[pgbouncer-restart] %s\n' "$*" >&2; exit 1; }

# Alive and not a zombie (PID 1 may reap late; kill -0 succeeds on a zombie).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

serves() {
  env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u PGOPTIONS PGPASSWORD=scram_pw PGCONNECT_TIMEOUT=2 \
    "$psql" -X -q -At -h 127.0.0.1 -p "$port" -U edgepg_scram -d edgepg -c 'SELECT 1' >/dev/null 2>&1
}

# The stack's lock keeps a concurrent `scripts/stack.sh up` from starting a second PgBouncer
# in the moment this one is down. But `up` holds that lock while cargo builds the proxy (which
# can take minutes), and a test that froze a process for a short while cannot wait that long:
# after a few seconds, restart without it (the window without PgBouncer is ~0.3 s).
exec 9>>"$dir/.lock"
if ! flock -w "${EDGEPG_RESTART_LOCK_WAIT:-3}" 9; then
  printf '[pgbouncer-restart] the stack lock is busy (scripts/stack.sh up running?): restarting without it\n' >&2
fi

old="$(tr -dc '0-9' <"$pidfile" 2>/dev/null || true)"
[[ -n "$old" ]] && alive "$old" && [[ "$(cat "/proc/$old/comm")" == pgbouncer ]] \
  || die "PgBouncer is not running (pid file $pidfile): run scripts/stack.sh up"

kill -INT "$old"
for ((i = 0; i < 100; i++)); do alive "$old" || break; sleep 0.05; done
if alive "$old"; then
  # Safe shutdown waits for server connections in use: someone holds a transaction open.
  kill -TERM "$old" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do alive "$old" || break; sleep 0.05; done
fi
alive "$old" && { kill -KILL "$old" 2>/dev/null || true; sleep 0.2; }
rm -f -- "$pidfile"

for ((i = 0; i < 100; i++)); do
  [[ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] && break
  sleep 0.05
done

errf="$bnc/start.err"
if (( $(id -u) == 0 )); then
  (cd / && setpriv --reuid="$user" --regid="$user" --init-groups -- "$pgbouncer" -d "$ini" 9>&-) >/dev/null 2>"$errf" \
    || die "pgbouncer failed to start: $(cat "$errf")"
else
  (cd / && "$pgbouncer" -d "$ini" 9>&-) >/dev/null 2>"$errf" || die "pgbouncer failed to start: $(cat "$errf")"
fi

for ((i = 0; i < 150; i++)); do serves && break; sleep 0.1; done
serves || die "PgBouncer did not serve SELECT 1 within 15 s after the restart"
new="$(tr -dc '0-9' <"$pidfile")"
echo "$old $new"

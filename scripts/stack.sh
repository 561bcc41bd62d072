#!/usr/bin/env bash
# edgepg test stack: a throwaway PostgreSQL cluster plus PgBouncer (transaction mode),
# both from Debian packages, and edgepg's WebSocket proxy (edgepg-proxy, built from this
# repo) in front of both; all bound to 127.0.0.1 only. No systemd, no docker.
#
#   scripts/stack.sh up            start (or reuse) the stack, then print the env
#   scripts/stack.sh env           print `export` lines:  eval "$(scripts/stack.sh env)"
#   scripts/stack.sh status        exit 0 if everything is up, 1 otherwise
#   scripts/stack.sh down          stop what this script started (keeps the dir for reuse)
#   scripts/stack.sh down --purge  stop, then delete the stack dir
#
# Knobs (environment): EDGEPG_STACK_DIR (/tmp/edgepg-stack), EDGEPG_PG_PORT (55432),
# EDGEPG_BOUNCER_PORT (56432), EDGEPG_PG_BIN (PostgreSQL bin dir, default: newest under
# /usr/lib/postgresql, 15 preferred), EDGEPG_STACK_USER (OS user that runs the servers
# when invoked as root; default postgres), EDGEPG_PROXY_PORT (58080), EDGEPG_PROXY_BIN (a
# prebuilt edgepg-proxy; default: built here with cargo on every `up`, a no-op when
# nothing changed).
#
# Messages go to stderr prefixed "[stack]"; only the env lines go to stdout.
set -euo pipefail

# ---------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------
STACK_DIR="${EDGEPG_STACK_DIR:-/tmp/edgepg-stack}"
PG_PORT="${EDGEPG_PG_PORT:-55432}"
BOUNCER_PORT="${EDGEPG_BOUNCER_PORT:-56432}"
PROXY_PORT="${EDGEPG_PROXY_PORT:-58080}"
STACK_USER="${EDGEPG_STACK_USER:-postgres}"
WAIT_SECS=30

# Libpq variables from the caller (PGOPTIONS, PGHOST, PGSSLMODE, PGPASSWORD, ...) must not
# leak into the psql calls made here.
while read -r _v; do unset "$_v"; done < <(compgen -e | grep '^PG' || true)
unset _v

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

for _p in "$PG_PORT" "$BOUNCER_PORT" "$PROXY_PORT"; do
  [[ "$_p" =~ ^[0-9]+$ ]] && (( _p > 0 && _p < 65536 )) || die "bad port: $_p"
done
[[ "$PG_PORT" != "$BOUNCER_PORT" ]] || die "EDGEPG_PG_PORT and EDGEPG_BOUNCER_PORT are equal"
[[ "$PROXY_PORT" != "$PG_PORT" && "$PROXY_PORT" != "$BOUNCER_PORT" ]] \
  || die "EDGEPG_PROXY_PORT equals the PostgreSQL or PgBouncer port"
unset _p

case "$STACK_DIR" in /*) ;; *) STACK_DIR="$PWD/$STACK_DIR" ;; esac
STACK_DIR="$(realpath -m -- "$STACK_DIR")"
[[ "$STACK_DIR" != "/" && "$STACK_DIR" != "/tmp" && "$STACK_DIR" != "${HOME:-/root}" ]] \
  || die "refusing to use $STACK_DIR as the stack dir"

MARKER="$STACK_DIR/.edgepg-stack"        # says "this dir belongs to stack.sh"
LOCK_FILE="$STACK_DIR/.lock"
PGDATA_DIR="$STACK_DIR/pgdata"
PG_INIT_OK="$STACK_DIR/pgdata.initialized" # written once initdb + first config succeeded
PG_LOG="$STACK_DIR/postgres.log"
BNC_DIR="$STACK_DIR/pgbouncer"
BNC_INI="$BNC_DIR/pgbouncer.ini"
BNC_USERS="$BNC_DIR/userlist.txt"
BNC_LOG="$BNC_DIR/pgbouncer.log"
BNC_PID="$BNC_DIR/pgbouncer.pid"
PROXY_DIR="$STACK_DIR/proxy"
PROXY_LOG="$PROXY_DIR/edgepg-proxy.log"
PROXY_PID="$PROXY_DIR/edgepg-proxy.pid"
PROXY_STAMP="$PROXY_DIR/started-with"    # binary + flags of the running proxy
PROXY_BUILD_LOG="$PROXY_DIR/build.log"
ENV_FILE="$STACK_DIR/env.sh"
REPO_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
IS_ROOT=0; [[ "$(id -u)" -eq 0 ]] && IS_ROOT=1

# Run a command as the stack user. setpriv (not runuser/su) so PAM's nofile limit (1024)
# does not apply: PgBouncer with max_client_conn=2000 needs more descriptors.
# fd 9 (the stack lock) is closed so daemons do not inherit and hold the lock forever.
as_stack_user() {
  if (( IS_ROOT )); then
    (cd / && setpriv --reuid="$STACK_USER" --regid="$STACK_USER" --init-groups -- "$@" 9>&-)
  else
    (cd / && "$@" 9>&-)
  fi
}

find_pg_bin() {
  if [[ -n "${EDGEPG_PG_BIN:-}" ]]; then
    [[ -x "$EDGEPG_PG_BIN/initdb" ]] && { echo "$EDGEPG_PG_BIN"; return 0; }
    return 1
  fi
  if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then echo /usr/lib/postgresql/15/bin; return 0; fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [[ -n "$d" && -x "$d/initdb" ]] && { echo "$d"; return 0; }
  return 1
}

find_pgbouncer() {
  if [[ -x /usr/sbin/pgbouncer ]]; then echo /usr/sbin/pgbouncer; return 0; fi
  command -v pgbouncer 2>/dev/null
}

# Temporarily forbid apt from starting system services (the Debian cluster on 5432,
# pgbouncer on 6432) when no policy-rc.d exists yet; removed again right after.
apt_install() {
  local policy=/usr/sbin/policy-rc.d created=0 rc=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; created=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 || rc=$?
  if (( rc != 0 )); then
    log "apt-get install failed (rc=$rc); running apt-get update and retrying"
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 || rc=$?
  fi
  if (( created )); then rm -f "$policy"; fi
  return "$rc"
}

ensure_packages() {
  local pkgs=()
  find_pg_bin >/dev/null || pkgs+=(postgresql)
  find_pgbouncer >/dev/null || pkgs+=(pgbouncer)
  if (( ${#pkgs[@]} )); then
    (( IS_ROOT )) || die "missing ${pkgs[*]} and not root: install them with apt-get"
    log "installing ${pkgs[*]} with apt-get"
    apt_install "${pkgs[@]}" || die "apt-get install ${pkgs[*]} failed"
  fi
  PG_BIN="$(find_pg_bin)" || die "PostgreSQL server binaries not found (${EDGEPG_PG_BIN:+EDGEPG_PG_BIN=$EDGEPG_PG_BIN, }looked under /usr/lib/postgresql/*/bin)"
  PGBOUNCER="$(find_pgbouncer)" || die "pgbouncer not found"
  if (( IS_ROOT )); then
    id -u "$STACK_USER" >/dev/null 2>&1 || die "system user $STACK_USER missing (postgresql-common creates it)"
  fi
}

# PG_BIN without installing anything (for env/status/down).
pg_bin_quiet() { PG_BIN="$(find_pg_bin)" || PG_BIN=""; }

psql_cmd() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

# psql as the bootstrap superuser over the stack's unix socket (local = trust).
psql_super() { psql_cmd -h "$STACK_DIR" -p "$PG_PORT" -U postgres "$@"; }

# Write $2 (content) to $1 only if it differs; returns 0 if the file changed.
write_if_changed() {
  local file="$1" content="$2" mode="${3:-644}"
  if [[ -f "$file" ]] && [[ "$(cat -- "$file")" == "$content" ]]; then return 1; fi
  printf '%s\n' "$content" >"$file.tmp.$$"
  chmod "$mode" "$file.tmp.$$"
  if (( IS_ROOT )); then chown "$STACK_USER:" "$file.tmp.$$"; fi
  mv -f "$file.tmp.$$" "$file"
  return 0
}

tail_log() {
  local f="$1"
  if [[ -f "$f" ]]; then
    log "---- last lines of $f ----"
    tail -n 30 "$f" | sed 's/^/[stack]   /' >&2
  else
    log "(no log file at $f)"
  fi
}

port_in_use() {
  command -v ss >/dev/null || return 1
  [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

sq() { printf "'%s'" "${1//\'/\'\'}"; }  # single-quote for postgresql.conf

# ---------------------------------------------------------------------------------------
# stack dir
# ---------------------------------------------------------------------------------------
ensure_stack_dir() {
  if [[ -d "$STACK_DIR" && ! -e "$MARKER" ]] && [[ -n "$(ls -A -- "$STACK_DIR")" ]]; then
    die "$STACK_DIR exists, is not empty and was not made by stack.sh (no $MARKER); pick another EDGEPG_STACK_DIR"
  fi
  mkdir -p "$STACK_DIR" "$BNC_DIR"
  touch "$MARKER"
  chmod 755 "$STACK_DIR"
  chmod 700 "$BNC_DIR"
  if (( IS_ROOT )); then
    local d
    for d in "$STACK_DIR" "$BNC_DIR" "$MARKER"; do
      [[ "$(stat -c %U "$d")" == "$STACK_USER" ]] || chown "$STACK_USER:" "$d"
    done
    if [[ -d "$PGDATA_DIR" && "$(stat -c %U "$PGDATA_DIR")" != "$STACK_USER" ]]; then
      chown -R "$STACK_USER:" "$PGDATA_DIR"
    fi
    as_stack_user test -w "$STACK_DIR" \
      || die "user $STACK_USER cannot reach $STACK_DIR (a parent dir is not traversable?)"
  fi
}

lock_stack() {
  exec 9>>"$LOCK_FILE"
  flock -w 120 9 || die "another stack.sh holds $LOCK_FILE"
}

# ---------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------
pg_conf_content() {
  cat <<EOF
# Managed by scripts/stack.sh (regenerated on every \`up\`; edits are lost).
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = $(sq "$STACK_DIR")
max_connections = 200
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_connections = on
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

pg_hba_content() {
  local lines="# Managed by scripts/stack.sh (regenerated on every \`up\`; edits are lost).
# First match wins: each edgepg_* role gets exactly its own method over TCP.
# TYPE  DATABASE  USER  ADDRESS  METHOD
local   all  all  trust"
  local role method addr
  for role in edgepg_admin:trust edgepg_trust:trust edgepg_password:password \
              edgepg_md5:md5 edgepg_scram:scram-sha-256; do
    method="${role#*:}"; role="${role%%:*}"
    for addr in 127.0.0.1/32 ::1/128; do
      lines+=$'\n'"host    all  $role  $addr  $method"
    done
  done
  lines+=$'\n'"host    all  all  127.0.0.1/32  scram-sha-256"
  lines+=$'\n'"host    all  all  ::1/128  scram-sha-256"
  printf '%s' "$lines"
}

# Running = postmaster.pid names a live, non-zombie process called postgres.
pg_running() {
  local pid
  pid="$(head -n1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null | tr -dc '0-9')" || return 1
  [[ -n "$pid" ]] && proc_alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == postgres ]]
}

# Before a start: a killed postmaster may still be an unreaped zombie (see proc_alive),
# which postgres itself takes for a live one ("lock file already exists"): wait for PID 1
# to reap it. A pid reused by a non-postgres process of the same user would block the
# start as well: drop that stale postmaster.pid.
pg_clear_stale_pidfile() {
  local f="$PGDATA_DIR/postmaster.pid" pid deadline=$((SECONDS + WAIT_SECS))
  [[ -f "$f" ]] || return 0
  pid="$(head -n1 "$f" | tr -dc '0-9')"
  [[ -n "$pid" ]] || return 0
  while kill -0 "$pid" 2>/dev/null && ! proc_alive "$pid"; do
    (( SECONDS < deadline )) || die "old postmaster $pid is still a zombie after ${WAIT_SECS}s"
    sleep 0.1
  done
  if proc_alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != postgres ]]; then
    log "postmaster.pid names pid $pid, which is not postgres: removing the stale file"
    rm -f -- "$f"
  fi
  return 0
}

# Line 4 of postmaster.pid is the port the running server listens on.
pg_running_port() { sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true; }

pg_wait_ready() {
  local deadline=$((SECONDS + WAIT_SECS))
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 \
        && "$PG_BIN/pg_isready" -q -h "$STACK_DIR" -p "$PG_PORT" -t 2; do
    if (( SECONDS >= deadline )); then
      tail_log "$PG_LOG"
      die "PostgreSQL did not accept connections on 127.0.0.1:$PG_PORT within ${WAIT_SECS}s"
    fi
    sleep 0.2
  done
}

pg_start() {
  if port_in_use "$PG_PORT"; then
    die "port $PG_PORT is already in use by something else (set EDGEPG_PG_PORT)"
  fi
  pg_clear_stale_pidfile
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
  local out
  if ! out="$(as_stack_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -w -t "$WAIT_SECS" start 2>&1)"; then
    printf '%s\n' "$out" | sed 's/^/[stack]   /' >&2
    tail_log "$PG_LOG"
    die "pg_ctl start failed"
  fi
  # pg_ctl notes e.g. "another server might be running" after an unclean stop
  printf '%s\n' "$out" | grep -E '^pg_ctl:' | sed 's/^/[stack]   /' >&2 || true
}

pg_stop() {
  as_stack_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t "$WAIT_SECS" stop >/dev/null \
    || { tail_log "$PG_LOG"; die "pg_ctl stop failed"; }
}

pg_init() {
  if [[ -d "$PGDATA_DIR" && ! -e "$PG_INIT_OK" ]]; then
    log "removing incomplete cluster dir $PGDATA_DIR"
    rm -rf -- "$PGDATA_DIR"
  fi
  if [[ ! -d "$PGDATA_DIR" ]]; then
    log "initdb $PGDATA_DIR ($("$PG_BIN/postgres" --version))"
    local out
    if ! out="$(as_stack_user "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust \
                 -E UTF8 --locale=C --no-sync 2>&1)"; then
      printf '%s\n' "$out" | sed 's/^/[stack]   /' >&2
      die "initdb failed"
    fi
    printf '\n# edgepg test stack settings\ninclude = %s\n' "'edgepg.conf'" \
      | as_stack_user tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
  else
    local have want
    have="$(cat "$PGDATA_DIR/PG_VERSION")"
    want="$("$PG_BIN/postgres" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')"
    [[ "$have" == "$want" ]] \
      || die "cluster in $PGDATA_DIR is PostgreSQL $have but binaries are $want: run '$0 down --purge'"
  fi
}

ensure_postgres() {
  pg_init
  local conf_changed=0
  write_if_changed "$PGDATA_DIR/edgepg.conf" "$(pg_conf_content)" 600 && conf_changed=1
  write_if_changed "$PGDATA_DIR/pg_hba.conf" "$(pg_hba_content)" 600 && conf_changed=1

  if pg_running; then
    local running_port
    running_port="$(pg_running_port)"
    if [[ "$running_port" != "$PG_PORT" ]]; then
      log "cluster runs on port $running_port, want $PG_PORT: restarting"
      pg_stop; pg_start
    elif (( conf_changed )); then
      log "config changed: reloading PostgreSQL"
      as_stack_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" reload >/dev/null
      sleep 0.3
      if [[ "$(psql_super -d postgres -Atc 'SELECT count(*) FROM pg_settings WHERE pending_restart')" != 0 ]]; then
        log "changed settings need a restart: restarting PostgreSQL"
        pg_stop; pg_start
      fi
    else
      log "PostgreSQL already running on 127.0.0.1:$PG_PORT (reusing)"
    fi
  else
    pg_start
  fi
  pg_wait_ready
  pg_apply_roles
  if [[ ! -e "$PG_INIT_OK" ]]; then
    touch "$PG_INIT_OK"
    if (( IS_ROOT )); then chown "$STACK_USER:" "$PG_INIT_OK"; fi
  fi
}

# Idempotent: roles, passwords (re-set every time), database, privileges.
pg_apply_roles() {
  local out
  if ! out="$(psql_super -d postgres 2>&1 <<'SQL'
SET client_min_messages = warning;
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['edgepg_admin','edgepg_trust','edgepg_password','edgepg_md5','edgepg_scram'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I', r);
    END IF;
  END LOOP;
END $$;
ALTER ROLE edgepg_admin    SUPERUSER   LOGIN PASSWORD 'admin_pw';
ALTER ROLE edgepg_trust    NOSUPERUSER LOGIN PASSWORD NULL;
SET password_encryption = 'scram-sha-256';
ALTER ROLE edgepg_password NOSUPERUSER LOGIN PASSWORD 'cleartext_pw';
ALTER ROLE edgepg_scram    NOSUPERUSER LOGIN PASSWORD 'scram_pw';
SET password_encryption = 'md5';
ALTER ROLE edgepg_md5      NOSUPERUSER LOGIN PASSWORD 'md5_pw';
RESET password_encryption;
SELECT 'CREATE DATABASE edgepg OWNER edgepg_admin'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'edgepg') \gexec
ALTER DATABASE edgepg OWNER TO edgepg_admin;
GRANT CONNECT, TEMPORARY ON DATABASE edgepg
  TO edgepg_trust, edgepg_password, edgepg_md5, edgepg_scram;
\connect edgepg
SET client_min_messages = warning;
GRANT USAGE, CREATE ON SCHEMA public
  TO edgepg_trust, edgepg_password, edgepg_md5, edgepg_scram;
SQL
  )"; then
    printf '%s\n' "$out" | sed 's/^/[stack]   /' >&2
    tail_log "$PG_LOG"
    die "applying roles/database failed"
  fi
}

# ---------------------------------------------------------------------------------------
# PgBouncer
# ---------------------------------------------------------------------------------------
bnc_ini_content() {
  cat <<EOF
; Managed by scripts/stack.sh (regenerated on every \`up\`; edits are lost).
[databases]
edgepg = host=127.0.0.1 port=$PG_PORT dbname=edgepg

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir = $BNC_DIR
listen_backlog = 4096
auth_type = scram-sha-256
auth_file = $BNC_USERS
admin_users = edgepg_admin
stats_users = edgepg_admin
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
logfile = $BNC_LOG
pidfile = $BNC_PID
EOF
}

# Plaintext secrets: PgBouncer then does SCRAM with the client *and* with the server.
bnc_users_content() {
  printf '"edgepg_scram" "scram_pw"\n"edgepg_admin" "admin_pw"'
}

# Alive and not a zombie: daemons are reparented to PID 1, which on this kind of machine
# (a firecracker init) reaps exited children only after ~1.5 s, and kill -0 succeeds on
# a zombie.
proc_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# daemon_pid PIDFILE COMM: the pid in PIDFILE, if that process is alive, not a zombie, and
# really COMM (a recycled pid is not ours).
daemon_pid() {
  local pid
  [[ -f "$1" ]] || return 1
  pid="$(tr -dc '0-9' <"$1")"
  [[ -n "$pid" ]] && proc_alive "$pid" \
    && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]] || return 1
  echo "$pid"
}

# stop_daemon LABEL PIDFILE COMM: SIGTERM, then SIGKILL after 10 s; the pid file goes.
stop_daemon() {
  local pid i
  pid="$(daemon_pid "$2" "$3")" || { rm -f -- "$2"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do proc_alive "$pid" || break; sleep 0.1; done
  if proc_alive "$pid"; then
    log "$1 ($pid) ignored SIGTERM for 10s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f -- "$2"
}

bnc_pid() { daemon_pid "$BNC_PID" pgbouncer; }

bnc_query_ok() {
  PGPASSWORD=scram_pw PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" -X -q -At \
    -h 127.0.0.1 -p "$BOUNCER_PORT" -U edgepg_scram -d edgepg -c 'SELECT 1' >/dev/null 2>&1
}

bnc_wait_ready() {
  local deadline=$((SECONDS + WAIT_SECS))
  until bnc_query_ok; do
    if (( SECONDS >= deadline )); then
      tail_log "$BNC_LOG"
      die "PgBouncer did not serve 'SELECT 1' for edgepg_scram on 127.0.0.1:$BOUNCER_PORT within ${WAIT_SECS}s"
    fi
    sleep 0.2
  done
}

bnc_start() {
  rm -f -- "$BNC_PID"   # stale (bnc_pid found no live pgbouncer behind it)
  if port_in_use "$BOUNCER_PORT"; then
    die "port $BOUNCER_PORT is already in use by something else (set EDGEPG_BOUNCER_PORT)"
  fi
  log "starting PgBouncer on 127.0.0.1:$BOUNCER_PORT (log: $BNC_LOG)"
  # stderr to a file, not a pipe: the daemon must not keep a pipe of ours open.
  local errf="$BNC_DIR/start.err"
  if ! as_stack_user "$PGBOUNCER" -d "$BNC_INI" >/dev/null 2>"$errf"; then
    sed 's/^/[stack]   /' "$errf" >&2
    tail_log "$BNC_LOG"
    die "pgbouncer failed to start"
  fi
}

bnc_stop() { stop_daemon PgBouncer "$BNC_PID" pgbouncer; }

ensure_pgbouncer() {
  local ini_changed=0 users_changed=0 pid
  write_if_changed "$BNC_INI" "$(bnc_ini_content)" 600 && ini_changed=1
  write_if_changed "$BNC_USERS" "$(bnc_users_content)" 600 && users_changed=1
  if pid="$(bnc_pid)"; then
    if (( ini_changed )); then
      log "pgbouncer.ini changed: restarting PgBouncer"
      bnc_stop; bnc_start
    elif (( users_changed )); then
      log "auth_file changed: reloading PgBouncer"
      kill -HUP "$pid"
    else
      log "PgBouncer already running on 127.0.0.1:$BOUNCER_PORT (pid $pid, reusing)"
    fi
  else
    bnc_start
  fi
  bnc_wait_ready
}

# ---------------------------------------------------------------------------------------
# Extra services: the WebSocket proxy
# ---------------------------------------------------------------------------------------
# edgepg-proxy (WebSocket <-> TCP, for the wasm/edge builds of the driver) in front of
# PgBouncer and Postgres: ws://127.0.0.1:$PROXY_PORT/v2?address=127.0.0.1:<port>. Runs as
# the invoking user, daemonized (setsid + nohup); pid file and log in $PROXY_DIR.
PROXY_ARGS=(--listen "127.0.0.1:$PROXY_PORT"
            --allow "127.0.0.1:$BOUNCER_PORT" --allow "127.0.0.1:$PG_PORT")

# Where cargo puts the release binary (CARGO_TARGET_DIR is honoured, relative to the repo).
proxy_default_bin() {
  local target="${CARGO_TARGET_DIR:-target}"
  case "$target" in /*) ;; *) target="$REPO_DIR/$target" ;; esac
  echo "$target/release/edgepg-proxy"
}

# Sets PROXY_BIN. Runs cargo every time (a no-op when the sources did not change); when the
# build fails but an older binary exists (someone's file may be mid-edit), that one is used.
proxy_build() {
  if [[ -n "${EDGEPG_PROXY_BIN:-}" ]]; then
    [[ -x "$EDGEPG_PROXY_BIN" ]] || die "EDGEPG_PROXY_BIN=$EDGEPG_PROXY_BIN is not an executable"
    PROXY_BIN="$EDGEPG_PROXY_BIN"
    return 0
  fi
  PROXY_BIN="$(proxy_default_bin)"
  if ! command -v cargo >/dev/null; then
    [[ -x "$PROXY_BIN" ]] || die "cargo not found and no $PROXY_BIN (set EDGEPG_PROXY_BIN)"
    log "cargo not found: using the existing $PROXY_BIN"
    return 0
  fi
  log "edgepg-proxy: cargo build --release --features proxy (log: $PROXY_BUILD_LOG)"
  if (cd "$REPO_DIR" && CARGO_TERM_COLOR=never \
        cargo build --release --features proxy --bin edgepg-proxy 9>&-) \
       >"$PROXY_BUILD_LOG" 2>&1; then
    [[ -x "$PROXY_BIN" ]] \
      || die "cargo built edgepg-proxy but it is not at $PROXY_BIN (a cargo target-dir setting?): set EDGEPG_PROXY_BIN"
  elif [[ -x "$PROXY_BIN" ]]; then
    tail_log "$PROXY_BUILD_LOG"
    log "WARNING: building edgepg-proxy failed; using the existing, possibly older $PROXY_BIN"
  else
    tail_log "$PROXY_BUILD_LOG"
    die "building edgepg-proxy failed"
  fi
}

proxy_pid() { daemon_pid "$PROXY_PID" edgepg-proxy; }

# What the running proxy was started from: restart when the binary's content or the flags
# change (a rebuild that produced the same bytes keeps the running proxy).
proxy_stamp() {
  local sum
  sum="$(sha256sum -- "$PROXY_BIN")"
  printf '%s %s' "${sum%% *}" "${PROXY_ARGS[*]}"
}

# An upgrade request without ?address= must get the proxy's 400 (it relays nothing, so
# it touches neither PgBouncer nor Postgres); anything else is not our proxy answering.
proxy_probe() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /v2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c3RhY2suc2ggcHJvYmUgIQ==\r\n\r\n" >&3
    IFS= read -r line <&3 && [[ "$line" == "HTTP/1.1 400"* ]]
  ' _ "$PROXY_PORT" 2>/dev/null
}

proxy_wait_ready() {
  local pid="$1" deadline=$((SECONDS + WAIT_SECS))
  until proxy_probe; do
    if ! proc_alive "$pid"; then
      tail_log "$PROXY_LOG"
      die "edgepg-proxy exited during startup"
    fi
    if (( SECONDS >= deadline )); then
      tail_log "$PROXY_LOG"
      die "edgepg-proxy did not answer on 127.0.0.1:$PROXY_PORT within ${WAIT_SECS}s"
    fi
    sleep 0.1
  done
}

proxy_start() {
  rm -f -- "$PROXY_PID"   # stale (proxy_pid found no live proxy behind it)
  if port_in_use "$PROXY_PORT"; then
    die "port $PROXY_PORT is already in use by something else (set EDGEPG_PROXY_PORT)"
  fi
  log "starting edgepg-proxy on 127.0.0.1:$PROXY_PORT (log: $PROXY_LOG)"
  # A background child of a non-interactive shell is no process-group leader, so setsid
  # does not fork and $! is the proxy itself. Log to a file, not a pipe of ours.
  (cd / && exec setsid nohup "$PROXY_BIN" "${PROXY_ARGS[@]}" \
     </dev/null >>"$PROXY_LOG" 2>&1 9>&-) &
  local pid=$!
  printf '%s\n' "$pid" >"$PROXY_PID"
  proxy_stamp >"$PROXY_STAMP"
  proxy_wait_ready "$pid"
}

proxy_stop() { stop_daemon edgepg-proxy "$PROXY_PID" edgepg-proxy; }

# Called by `up` after Postgres and PgBouncer are ready.
start_extra_services() {
  mkdir -p "$PROXY_DIR"
  proxy_build
  local pid
  if pid="$(proxy_pid)"; then
    if [[ "$(cat "$PROXY_STAMP" 2>/dev/null)" != "$(proxy_stamp)" ]]; then
      log "edgepg-proxy binary or flags changed: restarting it"
      proxy_stop; proxy_start
    elif proxy_probe; then
      log "edgepg-proxy already running on 127.0.0.1:$PROXY_PORT (pid $pid, reusing)"
    else
      log "edgepg-proxy (pid $pid) does not answer: restarting it"
      proxy_stop; proxy_start
    fi
  else
    proxy_start
  fi
}

# Called first by `down`.
stop_extra_services() {
  if proxy_pid >/dev/null; then
    log "stopping edgepg-proxy (pid $(proxy_pid))"
    proxy_stop
  fi
}

status_extra_services() {
  local pid
  if ! pid="$(proxy_pid)"; then
    log "WS proxy:   NOT running"; return 1
  fi
  if proxy_probe; then
    log "WS proxy:   running on ws://127.0.0.1:$PROXY_PORT/v2, allows 127.0.0.1:$BOUNCER_PORT and 127.0.0.1:$PG_PORT (pid $pid)"
  else
    log "WS proxy:   process $pid alive but 127.0.0.1:$PROXY_PORT does not answer"; return 1
  fi
}

# ---------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------
env_lines() {
  local h="127.0.0.1" db=edgepg
  cat <<EOF
export EDGEPG_STACK_DIR='$STACK_DIR'
export EDGEPG_PG_PORT='$PG_PORT'
export EDGEPG_BOUNCER_PORT='$BOUNCER_PORT'
export EDGEPG_URL_ADMIN='postgres://edgepg_admin:admin_pw@$h:$PG_PORT/$db'
export EDGEPG_URL_TRUST='postgres://edgepg_trust@$h:$PG_PORT/$db'
export EDGEPG_URL_PASSWORD='postgres://edgepg_password:cleartext_pw@$h:$PG_PORT/$db'
export EDGEPG_URL_MD5='postgres://edgepg_md5:md5_pw@$h:$PG_PORT/$db'
export EDGEPG_URL_SCRAM='postgres://edgepg_scram:scram_pw@$h:$PG_PORT/$db'
export EDGEPG_URL_BOUNCER='postgres://edgepg_scram:scram_pw@$h:$BOUNCER_PORT/$db'
export EDGEPG_URL_BOUNCER_ADMIN='postgres://edgepg_admin:admin_pw@$h:$BOUNCER_PORT/$db'
export EDGEPG_PROXY_PORT='$PROXY_PORT'
export EDGEPG_WS_URL='ws://$h:$PROXY_PORT/v2'
EOF
}

cmd_env() { env_lines; }

cmd_up() {
  ensure_packages
  ensure_stack_dir
  lock_stack
  ensure_postgres
  ensure_pgbouncer
  start_extra_services
  local content
  content="# Generated by scripts/stack.sh up; source it or eval \"\$(scripts/stack.sh env)\"
$(env_lines)"
  write_if_changed "$ENV_FILE" "$content" 644 || true
  log "up: PostgreSQL 127.0.0.1:$PG_PORT, PgBouncer 127.0.0.1:$BOUNCER_PORT (transaction mode), WebSocket proxy 127.0.0.1:$PROXY_PORT, dir $STACK_DIR"
  env_lines
}

cmd_status() {
  pg_bin_quiet
  local ok=0 pid
  if [[ -n "$PG_BIN" && -d "$PGDATA_DIR" ]] && pg_running \
     && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; then
    log "PostgreSQL: running, accepting connections on 127.0.0.1:$PG_PORT (pid $(head -n1 "$PGDATA_DIR/postmaster.pid"), data $PGDATA_DIR)"
  else
    if [[ -n "$PG_BIN" && -d "$PGDATA_DIR" ]] && pg_running; then
      log "PostgreSQL: running but not on 127.0.0.1:$PG_PORT (port $(pg_running_port); run 'up' again)"
    else
      log "PostgreSQL: NOT running on 127.0.0.1:$PG_PORT"
    fi
    ok=1
  fi
  if pid="$(bnc_pid)"; then
    if [[ -n "$PG_BIN" ]] && bnc_query_ok; then
      log "PgBouncer:  running, serving edgepg on 127.0.0.1:$BOUNCER_PORT (pid $pid)"
    else
      log "PgBouncer:  process $pid alive but 'SELECT 1' through 127.0.0.1:$BOUNCER_PORT fails"; ok=1
    fi
  else
    log "PgBouncer:  NOT running"; ok=1
  fi
  status_extra_services || ok=1
  return "$ok"
}

cmd_down() {
  local purge=0
  case "${1:-}" in
    "") ;;
    --purge) purge=1 ;;
    *) die "usage: $0 down [--purge]" ;;
  esac
  if [[ ! -d "$STACK_DIR" ]]; then
    log "nothing to stop: $STACK_DIR does not exist"
    return 0
  fi
  if [[ ! -e "$MARKER" && -n "$(ls -A -- "$STACK_DIR")" ]]; then
    die "$STACK_DIR was not made by stack.sh (no $MARKER); not touching it"
  fi
  lock_stack
  pg_bin_quiet
  stop_extra_services
  if bnc_pid >/dev/null; then
    log "stopping PgBouncer (pid $(bnc_pid))"
    bnc_stop
  fi
  if [[ -d "$PGDATA_DIR" ]]; then
    if [[ -z "$PG_BIN" ]]; then
      log "PostgreSQL binaries not found; cannot run pg_ctl stop"
    elif pg_running; then
      log "stopping PostgreSQL (pg_ctl stop -m fast)"
      pg_stop
    fi
  fi
  if (( purge )); then
    log "removing $STACK_DIR"
    rm -rf -- "$STACK_DIR"
  else
    log "down (kept $STACK_DIR for reuse; 'down --purge' deletes it)"
  fi
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up)     [[ $# -eq 0 ]] || usage; cmd_up ;;
    env)    [[ $# -eq 0 ]] || usage; cmd_env ;;
    status) [[ $# -eq 0 ]] || usage; cmd_status ;;
    down)   cmd_down "$@" ;;
    -h|--help|help|"") usage ;;
    *) log "unknown command: $cmd"; usage ;;
  esac
}

main "$@"

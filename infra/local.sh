#!/usr/bin/env bash
# Local PostgreSQL + RabbitMQ for development, tests and CI, without Docker.
#
#   infra/local.sh up       install what is missing (root + apt), initialise data on first use,
#                           start both servers and wait until they accept connections.
#                           Idempotent: servers that already run are detected and reused.
#   infra/local.sh down     stop both servers (no error when they are not running);
#                           `down postgres` or `down rabbitmq` stops just that one (fault drills),
#                           and the next `up` starts it again
#   infra/local.sh status   show what runs where; exit 0 when both run, 3 otherwise
#   infra/local.sh env      print `export ...` lines: eval "$(infra/local.sh env)"
#   infra/local.sh reset    down, then delete the data folder
#   infra/local.sh cluster up|down|status|env
#                           a 3-node RabbitMQ cluster beside the single node (same installation, own
#                           ports, one Erlang cookie): `up` starts the nodes that do not run and joins
#                           new ones; `env` prints its connection settings; `down` (or plain `down`) stops it
#   infra/local.sh cluster kill N
#                           kill -9 of node N's Erlang VM (drills); `cluster up` brings it back
#
# Everything lives in <repo>/.local (git-ignored through the .gitignore the script writes
# inside it). Environment overrides:
#   PLATFORM_LOCAL_DIR         data folder                         (<repo>/.local)
#   PLATFORM_PG_PORT           PostgreSQL port, 127.0.0.1 only     (55432)
#   PLATFORM_RABBIT_PORT       AMQP port, 127.0.0.1 only           (55672)
#   PLATFORM_RABBIT_MGMT_PORT  management UI / HTTP API port       (AMQP port + 1 = 55673)
#   PLATFORM_RABBIT_DIST_PORT  Erlang distribution port            (AMQP port + 2 = 55674)
#   PLATFORM_RABBIT_EPMD_PORT  private epmd port                   (AMQP port + 3 = 55675)
#   PLATFORM_RABBIT_CLUSTER_PORT  the cluster's epmd port (55690); node N's AMQP port is +N
#                              (55691-55693), management +3+N (55694-55696), distribution +6+N
#   PLATFORM_UP_TIMEOUT        seconds `up` waits for each server  (120)
#   PLATFORM_PG_BIN            PostgreSQL bin dir                  (from PATH, else /usr/lib/postgresql/<newest>/bin)
#   PLATFORM_RABBITMQ_BIN      RabbitMQ scripts dir                (/usr/lib/rabbitmq/bin)
# The RabbitMQ ports default to offsets of the AMQP port so that a second checkout only has
# to move PLATFORM_RABBIT_PORT (and PLATFORM_PG_PORT) to run beside the first one.

set -euo pipefail
# Root's umask may be 077; the service users must be able to traverse what root creates here.
umask 022

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# Resolve the repo from the script's own location so any cwd and any clone path work.
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
SELF="$SCRIPT_DIR/$(basename -- "${BASH_SOURCE[0]}")"

is_port() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 < 65536 )); }

PG_PORT=${PLATFORM_PG_PORT:-55432}
RMQ_PORT=${PLATFORM_RABBIT_PORT:-55672}
is_port "$PG_PORT" || die "PLATFORM_PG_PORT='$PG_PORT' is not a port number"
is_port "$RMQ_PORT" || die "PLATFORM_RABBIT_PORT='$RMQ_PORT' is not a port number"
RMQ_MGMT_PORT=${PLATFORM_RABBIT_MGMT_PORT:-$((RMQ_PORT + 1))}
RMQ_DIST_PORT=${PLATFORM_RABBIT_DIST_PORT:-$((RMQ_PORT + 2))}
RMQ_EPMD_PORT=${PLATFORM_RABBIT_EPMD_PORT:-$((RMQ_PORT + 3))}
for p in RMQ_MGMT_PORT RMQ_DIST_PORT RMQ_EPMD_PORT; do
  is_port "${!p}" || die "$p='${!p}' is not a port number"
done
CLUSTER_SIZE=3
CLUSTER_PORT=${PLATFORM_RABBIT_CLUSTER_PORT:-55690}
is_port "$CLUSTER_PORT" && is_port "$((CLUSTER_PORT + 3 * CLUSTER_SIZE))" \
  || die "PLATFORM_RABBIT_CLUSTER_PORT='$CLUSTER_PORT' is not a port number (it and the next $((3 * CLUSTER_SIZE)) must be)"
TIMEOUT=${PLATFORM_UP_TIMEOUT:-120}
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "PLATFORM_UP_TIMEOUT='$TIMEOUT' is not a number of seconds"

RMQ_NODE=platform@localhost
APP_USER=platform
APP_PASS=platform
APP_DB=platform

RMQ_BIN=${PLATFORM_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
# Resolved now: the script moves to / before doing anything (see the end).
REQUESTED_LOCAL=
if [[ -n ${PLATFORM_LOCAL_DIR:-} ]]; then REQUESTED_LOCAL=$(realpath -m -- "$PLATFORM_LOCAL_DIR"); fi

# Both servers refuse to run as root, so root runs each as its own system user; anyone else
# runs them as themselves.
if (( EUID == 0 )); then
  PG_USER=postgres
  RMQ_USER=rabbitmq
  AS_PG=(runuser -u postgres --)
  AS_RMQ=(runuser -u rabbitmq --)
else
  PG_USER=$(id -un)
  RMQ_USER=$PG_USER
  AS_PG=()
  AS_RMQ=()
fi

# ---------------------------------------------------------------------------------------------
# Binaries and installation

find_pg_bin() {
  if [[ -n ${PLATFORM_PG_BIN:-} ]]; then
    [[ -x $PLATFORM_PG_BIN/pg_ctl ]] && printf '%s\n' "$PLATFORM_PG_BIN"
    return 0
  fi
  local ctl d
  # Debian does not put pg_ctl/initdb on PATH; a PATH entry (e.g. /usr/local/bin symlinks)
  # wins, otherwise the newest /usr/lib/postgresql/<version>/bin.
  if ctl=$(command -v pg_ctl) && command -v initdb >/dev/null; then
    dirname -- "$(readlink -f -- "$ctl")"
    return 0
  fi
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
    if [[ -x $d/pg_ctl && -x $d/initdb ]]; then printf '%s\n' "$d"; return 0; fi
  done
}

find_psql() {
  if [[ -n $PG_BIN && -x $PG_BIN/psql ]]; then printf '%s\n' "$PG_BIN/psql"; else command -v psql || true; fi
}

detect_binaries() {
  PG_BIN=$(find_pg_bin)
  PSQL=$(find_psql)
  MISSING_PKGS=()
  [[ -x $RMQ_BIN/rabbitmq-server && -x $RMQ_BIN/rabbitmqctl ]] || MISSING_PKGS+=(rabbitmq-server)
  [[ -n $PG_BIN && -n $PSQL ]] || MISSING_PKGS+=(postgresql)
  # rabbitmq-server's own dependencies bring erl/epmd; only a broken install lacks them.
  if (( ${#MISSING_PKGS[@]} == 0 )) && ! command -v epmd >/dev/null; then
    MISSING_PKGS+=(erlang-base)
  fi
  # The office's browser tests drive Debian's chromium (Playwright cannot download its own browser here). Wanted, not
  # required: without root it is reported, and the servers still start.
  BROWSER_PKGS=()
  command -v "${PLATFORM_CHROMIUM:-chromium}" >/dev/null || BROWSER_PKGS+=(chromium)
  return 0
}

POLICY_RC=/usr/sbin/policy-rc.d
REMOVE_POLICY_RC=0
cleanup_policy_rc() { if (( REMOVE_POLICY_RC )); then rm -f -- "$POLICY_RC"; fi; }

install_missing() {
  detect_binaries
  if (( ${#BROWSER_PKGS[@]} > 0 )); then
    if (( EUID == 0 )) && command -v apt-get >/dev/null; then
      MISSING_PKGS+=("${BROWSER_PKGS[@]}")
    else
      log "chromium is missing: the browser tests (tests/Platform.Office.Tests) need it ('sudo apt-get install -y chromium')"
    fi
  fi
  (( ${#MISSING_PKGS[@]} == 0 )) && return 0
  if (( EUID != 0 )) || ! command -v apt-get >/dev/null; then
    die "missing: ${MISSING_PKGS[*]}. Installing them needs root and apt-get: run 'sudo $SELF up' \
(it runs 'apt-get install -y ${MISSING_PKGS[*]}'), or install them yourself, or use Docker instead: \
'docker compose up -d' with the project's docker-compose.yml."
  fi
  log "installing ${MISSING_PKGS[*]} with apt-get (first time on this machine)"
  export DEBIAN_FRONTEND=noninteractive
  # The Debian packages start their system-wide service (default ports 5672/4369/5432) when they
  # can. We never use it, so forbid service starts during the install unless the machine
  # already has a policy (containers usually do).
  if [[ ! -e $POLICY_RC ]]; then
    printf '#!/bin/sh\n# temporary, from infra/local.sh: no service starts during install\nexit 101\n' > "$POLICY_RC"
    chmod 755 "$POLICY_RC"
    REMOVE_POLICY_RC=1
    trap cleanup_policy_rc EXIT
  fi
  local apt_opts=(-y -q -o DPkg::Lock::Timeout=300)
  # Only refresh the package lists when they do not know the packages yet; retry once with
  # fresh lists if the install fails (stale lists point at files the mirror no longer has).
  if ! apt-cache show "${MISSING_PKGS[@]}" >/dev/null 2>&1; then
    apt-get update -q >&2 || die "apt-get update failed"
  fi
  if ! apt-get install "${apt_opts[@]}" "${MISSING_PKGS[@]}" >&2; then
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install "${apt_opts[@]}" "${MISSING_PKGS[@]}" >&2 || die "apt-get install ${MISSING_PKGS[*]} failed"
  fi
  cleanup_policy_rc
  REMOVE_POLICY_RC=0
  detect_binaries
  (( ${#MISSING_PKGS[@]} == 0 )) || die "still missing after install: ${MISSING_PKGS[*]}"
}

# ---------------------------------------------------------------------------------------------
# Where the data lives

# True when every service user can reach $1 (or the nearest existing parent of it).
service_users_can_reach() {
  local p=$1 u
  while [[ ! -e $p ]]; do p=$(dirname -- "$p"); done
  for u in "$PG_USER" "$RMQ_USER"; do
    id -u "$u" >/dev/null 2>&1 || continue   # not installed yet: nothing to check
    runuser -u "$u" -- test -x "$p" || return 1
  done
}

resolve_local() {
  FALLBACK_FROM=
  if [[ -n $REQUESTED_LOCAL ]]; then
    LOCAL=$REQUESTED_LOCAL
  else
    LOCAL=$(realpath -m -- "$REPO/.local")   # a symlinked .local (a worktree sharing a checkout's servers) is that folder
  fi
  if (( EUID == 0 )) && ! service_users_can_reach "$LOCAL"; then
    if [[ -n $REQUESTED_LOCAL ]]; then
      die "PLATFORM_LOCAL_DIR=$LOCAL cannot be reached by the '$PG_USER'/'$RMQ_USER' users (a parent folder is not traversable); pick another folder"
    fi
    # A clone under /root (mode 700) is not traversable for postgres/rabbitmq: keep the data in
    # a folder of its own per clone path instead.
    FALLBACK_FROM=$LOCAL
    LOCAL=/var/tmp/platform-$(printf '%s' "$REPO" | sha256sum | cut -c1-12)
  fi

  PG_DIR=$LOCAL/postgres
  PGDATA_DIR=$PG_DIR/data
  PG_LOG=$PG_DIR/postgres.log
  PG_SOCK=$PG_DIR/run
  # A unix socket path must fit in 107 bytes (".s.PGSQL.<port>.lock" included); deep clones
  # get their socket folder in /tmp instead.
  if (( ${#PG_SOCK} + 20 > 107 )); then
    PG_SOCK=/tmp/platform-pg-$(printf '%s' "$LOCAL" | sha256sum | cut -c1-12)
  fi

  rmq_set_node "$LOCAL/rabbitmq" "$LOCAL/rabbitmq/home" "$RMQ_NODE"
  CLUSTER_DIR=$LOCAL/rabbitmq-cluster
}

# Points every RMQ_* path (and the environment the node and its CLI see) at one node's folder: the single node's, or
# one of the cluster's (which share a HOME, and with it one Erlang cookie).
rmq_set_node() { # dir home nodename
  RMQ_DIR=$1
  RMQ_HOME=$2
  RMQ_NODE=$3
  RMQ_LOGDIR=$RMQ_DIR/log
  RMQ_PIDFILE=$RMQ_DIR/rabbitmq.pid
  RMQ_CONF=$RMQ_DIR/rabbitmq.conf
  RMQ_EPMD_FILE=$RMQ_DIR/epmd.port
  # Everything RabbitMQ (server and CLI) would otherwise take from /etc/rabbitmq or
  # /var/lib/rabbitmq points into our folder. HOME matters too: node and CLI find the shared
  # Erlang cookie in $HOME/.erlang.cookie. The private epmd port keeps our node invisible to
  # (and clear of) a system RabbitMQ on 4369.
  RMQ_ENV=(
    "HOME=$RMQ_HOME"
    "RABBITMQ_NODENAME=$RMQ_NODE"
    "RABBITMQ_CONF_ENV_FILE=$RMQ_DIR/rabbitmq-env.conf"
    "RABBITMQ_CONFIG_FILE=$RMQ_CONF"
    "RABBITMQ_CONFIG_FILES=$RMQ_DIR/conf.d"
    "RABBITMQ_ADVANCED_CONFIG_FILE=$RMQ_DIR/advanced.config"
    "RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ_DIR/enabled_plugins"
    "RABBITMQ_MNESIA_BASE=$RMQ_DIR/mnesia"
    "RABBITMQ_LOG_BASE=$RMQ_LOGDIR"
    "RABBITMQ_PID_FILE=$RMQ_PIDFILE"
    "RABBITMQ_DIST_PORT=$RMQ_DIST_PORT"
    "ERL_EPMD_PORT=$RMQ_EPMD_PORT"
    "ERL_EPMD_ADDRESS=127.0.0.1"
    "ERL_CRASH_DUMP=$RMQ_LOGDIR/erl_crash.dump"
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
    "RABBITMQ_CTL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
  )
}

say_fallback() {
  if [[ -n $FALLBACK_FROM ]]; then
    log "$FALLBACK_FROM is not reachable by the '$PG_USER'/'$RMQ_USER' users (a parent folder is not traversable, e.g. /root is 700): using $LOCAL instead"
  fi
  return 0
}

chown_to() { # user path... — only root can (and needs to) hand folders to the service users
  local u=$1; shift
  if (( EUID == 0 )); then chown "$u:" "$@"; fi
}

ensure_dirs() {
  if [[ -d $LOCAL && ! -e $LOCAL/.platform-local && -n $(ls -A -- "$LOCAL") ]]; then
    die "$LOCAL exists, is not empty and was not created by this script; refusing to use it"
  fi
  mkdir -p -- "$LOCAL"
  chmod 755 -- "$LOCAL"
  touch -- "$LOCAL/.platform-local"
  # Makes git ignore the whole folder without depending on the repo's .gitignore.
  printf '*\n' > "$LOCAL/.gitignore"

  mkdir -p -- "$PG_DIR" "$PG_SOCK"
  chown_to "$PG_USER" "$PG_DIR" "$PG_SOCK"
  chmod 700 -- "$PG_DIR"
  chmod 755 -- "$PG_SOCK"

  rmq_ensure_dirs
}

rmq_ensure_dirs() { # the folders of the node rmq_set_node points at
  mkdir -p -- "$RMQ_HOME" "$RMQ_LOGDIR" "$RMQ_DIR/mnesia" "$RMQ_DIR/conf.d"
  if (( EUID == 0 )) && [[ $(stat -c %U -- "$RMQ_DIR/mnesia") != "$RMQ_USER" ]]; then
    chown -R "$RMQ_USER:" "$RMQ_DIR"
  fi
  chown_to "$RMQ_USER" "$RMQ_DIR" "$RMQ_HOME" "$RMQ_LOGDIR" "$RMQ_DIR/conf.d"
  chmod 750 -- "$RMQ_DIR"
  chmod 700 -- "$RMQ_HOME"
}

take_lock() { # [file]
  # Two `up`s at once (parallel CI steps) would otherwise start two nodes on one data folder.
  local file=${1:-$LOCAL/.lock}
  exec 9>>"$file"
  flock -w "$((TIMEOUT + 60))" 9 || die "another infra/local.sh holds $file"
}

# Writes $3 to $1 (owned by $2) when the content differs; returns 0 when it changed.
write_if_changed() {
  local file=$1 owner=$2 content=$3
  if [[ -f $file && "$(cat -- "$file")" == "$content" ]]; then return 1; fi
  printf '%s\n' "$content" > "$file.tmp"
  mv -f -- "$file.tmp" "$file"
  chown_to "$owner" "$file"
  return 0
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tail_log() { # file [lines]
  if [[ -f $1 ]]; then
    printf '[infra] ---- last lines of %s ----\n' "$1" >&2
    tail -n "${2:-30}" -- "$1" >&2 || true
    printf '[infra] ----\n' >&2
  fi
  return 0
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

# 9>&-: the postmaster must not inherit (and so hold forever) our lock.
pg_ctl_() { "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" "$@" 9>&-; }

pg_running() {
  [[ -n ${PG_BIN:-} && -f $PGDATA_DIR/PG_VERSION ]] && pg_ctl_ status >/dev/null 2>&1
}

pg_pid() { head -n1 -- "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true; }
# The port the running server really uses (line 4 of postmaster.pid), which may predate a change.
pg_live_port() { sed -n 4p -- "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true; }

pg_conf_content() {
  local sock=${PG_SOCK//\'/\'\'}
  cat <<EOF
# Generated by infra/local.sh on every 'up' (edit the script, not this file).
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sock'
max_connections = 300
# Tests must see the same durability as production.
fsync = on
EOF
  # infra/bench.sh's own servers count statements per task; nothing else pays for it.
  if [[ ${PLATFORM_PG_STATEMENT_STATS:-0} == 1 ]]; then
    printf "shared_preload_libraries = 'pg_stat_statements'\n"
  fi
}

psql_admin() { # superuser over the unix socket: initdb made local connections 'trust'
  "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres "$@"
}

psql_app_ok() {
  PGPASSWORD=$APP_PASS PGCONNECT_TIMEOUT=5 "$PSQL" -X -q -tA -h 127.0.0.1 -p "$PG_PORT" \
    -U "$APP_USER" -d "$APP_DB" -c 'select 1' >/dev/null 2>&1
}

pg_check_port() {
  if port_busy "$PG_PORT"; then die "port $PG_PORT is taken by another program: stop it or set PLATFORM_PG_PORT"; fi
  return 0
}

pg_up() {
  if [[ ! -f $PGDATA_DIR/PG_VERSION ]]; then
    if [[ -d $PGDATA_DIR && -n $(ls -A -- "$PGDATA_DIR") ]]; then
      die "$PGDATA_DIR holds no complete cluster (interrupted initdb?): run '$SELF reset'"
    fi
    log "initialising PostgreSQL cluster in $PGDATA_DIR"
    if ! "${AS_PG[@]}" "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1; then
      tail_log "$PG_DIR/initdb.log"
      die "initdb failed"
    fi
    # Our settings go in a file of their own, included last so they win, and rewritten on each
    # `up` so port changes apply.
    printf "\n# Added by infra/local.sh\ninclude_if_exists = 'platform.conf'\n" >> "$PGDATA_DIR/postgresql.conf"
  fi

  local changed=0
  if write_if_changed "$PGDATA_DIR/platform.conf" "$PG_USER" "$(pg_conf_content)"; then changed=1; fi

  if pg_running; then
    if (( changed )); then
      log "PostgreSQL settings changed: restarting it"
      pg_ctl_ -l "$PG_LOG" -w -t "$TIMEOUT" -m fast restart >/dev/null 2>&1 || { tail_log "$PG_LOG"; die "PostgreSQL restart failed"; }
    else
      log "PostgreSQL already running (pid $(pg_pid)): reusing it"
    fi
  else
    pg_check_port
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    # pg_ctl puts the postmaster in its own session, so it outlives this shell and its job.
    if ! pg_ctl_ -l "$PG_LOG" -w -t "$TIMEOUT" start >/dev/null 2>&1; then
      tail_log "$PG_LOG"
      die "PostgreSQL did not start within ${TIMEOUT}s (log: $PG_LOG)"
    fi
  fi

  # Idempotent: create what is missing, and re-assert the password and rights every time.
  psql_admin >/dev/null <<SQL || die "could not create the '$APP_USER' role/database (log: $PG_LOG)"
SELECT 'CREATE ROLE $APP_USER' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_USER') \gexec
ALTER ROLE $APP_USER WITH LOGIN CREATEDB PASSWORD '$APP_PASS';
SELECT 'CREATE DATABASE $APP_DB OWNER $APP_USER' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$APP_DB') \gexec
SQL
  if [[ ${PLATFORM_PG_STATEMENT_STATS:-0} == 1 ]]; then
    # In template1, so every database made from now on has the view.
    psql_admin -d template1 -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null || die "could not create pg_stat_statements"
  fi

  local deadline=$((SECONDS + TIMEOUT))
  until psql_app_ok; do
    if (( SECONDS >= deadline )); then
      tail_log "$PG_LOG"
      die "PostgreSQL does not accept '$APP_USER' on 127.0.0.1:$PG_PORT after ${TIMEOUT}s"
    fi
    sleep 1
  done
  log "PostgreSQL ready on 127.0.0.1:$PG_PORT"
}

pg_down() {
  if pg_running; then
    log "stopping PostgreSQL (pid $(pg_pid))"
    pg_ctl_ -m fast -w -t 60 stop >/dev/null 2>&1 \
      || pg_ctl_ -m immediate -w -t 30 stop >/dev/null 2>&1 \
      || die "could not stop PostgreSQL (log: $PG_LOG)"
  else
    log "PostgreSQL not running"
  fi
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ

rmq_cli() { # tool args... — as the node's user, with the node's environment and cookie
  local tool=$1; shift
  # 9>&-: an epmd this may spawn must not inherit (and so hold forever) our lock.
  timeout 90 "${AS_RMQ[@]}" env "${RMQ_ENV[@]}" "$RMQ_BIN/$tool" "$@" 9>&-
}

is_our_beam() { # pid — true when it is a BEAM started with our data folder
  local envs
  if ! [[ $1 =~ ^[0-9]+$ ]] || ! kill -0 "$1" 2>/dev/null; then return 1; fi
  envs=$(tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null) || return 1
  grep -qxF "RABBITMQ_MNESIA_BASE=$RMQ_DIR/mnesia" <<<"$envs"
}

# Prints the pid of our node when it runs. The pid file can be stale or recycled, and a
# booting node has not written it yet, so the process must prove it is ours; without a usable
# pid file we look for it among the running BEAMs.
rmq_pid() {
  local pid f comm
  if [[ -r $RMQ_PIDFILE ]]; then
    pid=$(tr -dc '0-9' < "$RMQ_PIDFILE")
    if is_our_beam "$pid"; then printf '%s\n' "$pid"; return 0; fi
  fi
  for f in /proc/[0-9]*/comm; do
    { read -r comm < "$f"; } 2>/dev/null || continue   # processes come and go meanwhile
    [[ $comm == beam.smp ]] || continue
    pid=${f#/proc/}
    pid=${pid%/comm}
    if is_our_beam "$pid"; then printf '%s\n' "$pid"; return 0; fi
  done
  return 1
}

rmq_conf_content() {
  cat <<EOF
# Generated by infra/local.sh on every 'up' (edit the script, not this file).
# ports: amqp=$RMQ_PORT mgmt=$RMQ_MGMT_PORT dist=$RMQ_DIST_PORT epmd=$RMQ_EPMD_PORT
listeners.tcp.default = 127.0.0.1:$RMQ_PORT
management.tcp.port = $RMQ_MGMT_PORT
management.tcp.ip = 127.0.0.1
# Log to the file only; stdout goes to startup.log, which is meant for boot failures.
log.console = false
# Created on first boot; administrator so tests can create and delete their own vhosts.
default_vhost = /
default_user = $APP_USER
default_pass = $APP_PASS
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
# Research tasks can keep a delivery unacknowledged for a long time; the default (30 min)
# would close the consumer's channel. Allow 1 h.
consumer_timeout = 3600000
${RMQ_CONF_EXTRA:-}
EOF
}

rmq_prepare() {
  local cookie=$RMQ_HOME/.erlang.cookie
  if [[ ! -s $cookie ]]; then
    local rnd
    rnd=$(head -c 32 /dev/urandom | sha256sum)
    rnd=${rnd:0:20}
    printf '%s' "${rnd^^}" > "$cookie"
  fi
  # Erlang refuses a cookie that others can read.
  chmod 400 -- "$cookie"
  chown_to "$RMQ_USER" "$cookie"

  write_if_changed "$RMQ_DIR/enabled_plugins" "$RMQ_USER" '[rabbitmq_management].' || true
  write_if_changed "$RMQ_DIR/rabbitmq-env.conf" "$RMQ_USER" \
    '# Intentionally empty: pointing RABBITMQ_CONF_ENV_FILE here keeps /etc/rabbitmq/rabbitmq-env.conf out of this node.' || true
  RMQ_CONF_CHANGED=0
  if write_if_changed "$RMQ_CONF" "$RMQ_USER" "$(rmq_conf_content)"; then RMQ_CONF_CHANGED=1; fi
}

rmq_check_ports() {
  local p
  for p in "$RMQ_PORT" "$RMQ_MGMT_PORT" "$RMQ_DIST_PORT"; do
    if port_busy "$p"; then
      die "port $p is taken by another program (a node left over from a deleted data folder?): free it or set PLATFORM_RABBIT_PORT"
    fi
  done
  return 0
}

RMQ_LAUNCHER=
rmq_start() {
  rmq_check_ports
  log "starting RabbitMQ node $RMQ_NODE on 127.0.0.1:$RMQ_PORT (management $RMQ_MGMT_PORT)"
  printf '==== %s infra/local.sh up\n' "$(date '+%F %T')" >> "$RMQ_LOGDIR/startup.log"
  chown_to "$RMQ_USER" "$RMQ_LOGDIR/startup.log"
  printf '%s\n' "$RMQ_EPMD_PORT" > "$RMQ_EPMD_FILE"
  # setsid: the node must outlive this script and not get the caller's Ctrl-C / job kill.
  # Foreground mode under setsid (rather than -detached) keeps its output in startup.log.
  # 9>&-: the node must not inherit (and so hold forever) our lock.
  setsid "${AS_RMQ[@]}" env "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmq-server" \
    >>"$RMQ_LOGDIR/startup.log" 2>&1 </dev/null 9>&- &
  RMQ_LAUNCHER=$!
}

rmq_fail() {
  tail_log "$RMQ_LOGDIR/startup.log" 20
  tail_log "$RMQ_LOGDIR/$RMQ_NODE.log" 30
  die "$1"
}

http_status() { # path → HTTP status of the management API for it, 000 when nothing answers
  local code
  if command -v curl >/dev/null; then
    code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -u "$APP_USER:$APP_PASS" \
      "http://127.0.0.1:$RMQ_MGMT_PORT$1" 2>/dev/null) || true
  else
    # No curl: speak just enough HTTP/1.0 over bash's /dev/tcp.
    # shellcheck disable=SC2016 # the inner script expands its own positional parameters
    code=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
      printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n" "$1" "$2" >&3
      IFS=" " read -r _ c _ <&3 && printf "%s" "$c"' \
      "$RMQ_MGMT_PORT" "$1" "$(printf '%s' "$APP_USER:$APP_PASS" | base64)" 2>/dev/null) || true
  fi
  printf '%s\n' "${code:-000}"
}

rmq_ensure_user() {
  # default_user only applies to a brand-new database; recreate the user if it went missing.
  log "RabbitMQ refused $APP_USER: (re)creating the user"
  rmq_cli rabbitmqctl add_vhost / >/dev/null 2>&1 || true
  rmq_cli rabbitmqctl add_user "$APP_USER" "$APP_PASS" >/dev/null 2>&1 \
    || rmq_cli rabbitmqctl change_password "$APP_USER" "$APP_PASS" >/dev/null 2>&1 || true
  rmq_cli rabbitmqctl set_user_tags "$APP_USER" administrator >/dev/null 2>&1 || true
  rmq_cli rabbitmqctl set_permissions -p / "$APP_USER" '.*' '.*' '.*' >/dev/null 2>&1 || true
}

rmq_wait() {
  local deadline=$((SECONDS + TIMEOUT)) code fixed_user=0 out
  while :; do
    if [[ -n $RMQ_LAUNCHER ]] && ! kill -0 "$RMQ_LAUNCHER" 2>/dev/null; then
      rmq_fail "RabbitMQ exited while starting"
    fi
    code=$(http_status /api/overview)
    if [[ $code == 200 ]]; then
      # The management API answers only once the broker has booted; now let RabbitMQ itself
      # confirm its listeners take connections.
      if out=$(rmq_cli rabbitmq-diagnostics -q check_port_connectivity 2>&1); then
        break
      fi
    elif [[ $code == 401 ]] && (( ! fixed_user )); then
      rmq_ensure_user
      fixed_user=1
    fi
    if (( SECONDS >= deadline )); then
      [[ -n ${out:-} ]] && printf '[infra] rabbitmq-diagnostics said: %s\n' "$out" >&2
      rmq_fail "RabbitMQ not ready after ${TIMEOUT}s (management API answered '$code')"
    fi
    sleep 1
  done
  log "RabbitMQ ready on 127.0.0.1:$RMQ_PORT"
}

rmq_kill_epmd() {
  # The node started its own epmd on our private port; it would outlive the node.
  local port=$RMQ_EPMD_PORT
  [[ -r $RMQ_EPMD_FILE ]] && port=$(tr -dc '0-9' < "$RMQ_EPMD_FILE")
  [[ -n $port ]] || return 0
  if port_busy "$port" && command -v epmd >/dev/null; then
    # -kill refuses while a node is still registered, which is what we want.
    ERL_EPMD_PORT=$port epmd -kill >/dev/null 2>&1 || true
  fi
  return 0
}

rmq_down() {
  local pid i
  if ! pid=$(rmq_pid); then
    log "RabbitMQ not running"
    rmq_kill_epmd
    return 0
  fi
  log "stopping RabbitMQ (pid $pid)"
  # `shutdown` stops the node gracefully and waits for the OS process to exit.
  if ! rmq_cli rabbitmqctl -q shutdown >/dev/null 2>&1; then
    log "rabbitmqctl shutdown failed; sending SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "RabbitMQ still running after 60s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f -- "$RMQ_PIDFILE"
  rmq_kill_epmd
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ cluster: three more nodes of the same installation, one cluster, for the drills of a node's loss
# (docs/operations.md). Beside the single node, never instead of it.

cluster_node() { # n — points every RMQ_* setting at node n of the cluster
  local n=$1
  RMQ_PORT=$((CLUSTER_PORT + n))
  RMQ_MGMT_PORT=$((CLUSTER_PORT + CLUSTER_SIZE + n))
  RMQ_DIST_PORT=$((CLUSTER_PORT + 2 * CLUSTER_SIZE + n))
  # One epmd for the three: it is how the nodes find each other's distribution ports.
  RMQ_EPMD_PORT=$CLUSTER_PORT
  rmq_set_node "$CLUSTER_DIR/$n" "$CLUSTER_DIR/home" "$(cluster_node_name "$n")"
  # A node that finds itself alone with the others out of reach stops serving, so clients go to the majority.
  RMQ_CONF_EXTRA='cluster_partition_handling = pause_minority'
  RMQ_LAUNCHER=
}

cluster_node_name() { printf 'platform-%s@localhost\n' "$1"; }

cluster_check_node_arg() { # n
  [[ ${1:-} =~ ^[0-9]+$ ]] && (( $1 >= 1 && $1 <= CLUSTER_SIZE )) || die "cluster: node must be 1..$CLUSTER_SIZE, not '${1:-}'"
}

cluster_reserve_ports() { # as reserve_ports, for the cluster's range
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports current wanted="$CLUSTER_PORT-$((CLUSTER_PORT + 3 * CLUSTER_SIZE))"
  (( EUID == 0 )) && [[ -w $file ]] || return 0
  current=$(<"$file")
  [[ ",$current," == *",$wanted,"* ]] && return 0
  echo "${current:+$current,}$wanted" >"$file" 2>/dev/null || log "could not reserve ports $wanted from the ephemeral range (read-only /proc): a rare 'Address already in use' stays possible"
}

# True when node n's own view of the cluster names node 1 as a member (node 1 always is one of its own).
cluster_joined() { # n
  local out
  out=$(rmq_cli rabbitmqctl -q cluster_status --formatter json 2>/dev/null) || return 1
  [[ $out == *"\"$(cluster_node_name 1)\""* ]]
}

cluster_start_missing() { # starts each node that does not run; leaves STARTED_NODES and LAUNCHERS
  local n pid
  STARTED_NODES=()
  LAUNCHERS=()
  for ((n = 1; n <= CLUSTER_SIZE; n++)); do
    cluster_node "$n"
    rmq_ensure_dirs
    rmq_prepare
    if pid=$(rmq_pid); then
      if (( RMQ_CONF_CHANGED )); then
        log "cluster node $n: settings changed, restarting it"
        rmq_down
      else
        log "cluster node $n ($RMQ_NODE) already running (pid $pid): reusing it"
        continue
      fi
    fi
    # All at once: a node that was part of the cluster waits at boot for the others it last saw running.
    rmq_start
    STARTED_NODES+=("$n")
    LAUNCHERS[n]=$RMQ_LAUNCHER
  done
}

cmd_cluster_up() {
  local t0=$SECONDS n
  install_missing
  reserve_ports
  cluster_reserve_ports
  if (( EUID == 0 )); then
    id -u "$RMQ_USER" >/dev/null 2>&1 || die "system user '$RMQ_USER' is missing (reinstall rabbitmq-server)"
  fi
  getent hosts localhost >/dev/null || die "'localhost' does not resolve (add '127.0.0.1 localhost' to /etc/hosts)"
  resolve_local
  say_fallback
  ensure_dirs
  mkdir -p -- "$CLUSTER_DIR/home"
  chown_to "$RMQ_USER" "$CLUSTER_DIR"
  # A lock of its own: the cluster's minute-long first start must not hold up the single node's `up` (other tests).
  take_lock "$CLUSTER_DIR/.lock"

  cluster_start_missing
  for n in "${STARTED_NODES[@]}"; do
    cluster_node "$n"
    RMQ_LAUNCHER=${LAUNCHERS[n]}
    rmq_wait
  done

  # A brand-new node boots as a cluster of its own: join it to node 1 (which resets its empty database).
  for ((n = 2; n <= CLUSTER_SIZE; n++)); do
    cluster_node "$n"
    cluster_joined "$n" && continue
    log "cluster node $n: joining $(cluster_node_name 1)"
    rmq_cli rabbitmqctl -q stop_app >/dev/null || rmq_fail "could not stop the app of $RMQ_NODE to join the cluster"
    rmq_cli rabbitmqctl -q join_cluster "$(cluster_node_name 1)" >/dev/null || rmq_fail "$RMQ_NODE could not join $(cluster_node_name 1)"
    rmq_cli rabbitmqctl -q start_app >/dev/null || rmq_fail "$RMQ_NODE did not start again after joining"
    rmq_wait
  done

  cluster_node 1
  log "cluster up in $((SECONDS - t0))s: $CLUSTER_SIZE nodes, amqp 127.0.0.1:$((CLUSTER_PORT + 1))-$((CLUSTER_PORT + CLUSTER_SIZE)), management $((CLUSTER_PORT + CLUSTER_SIZE + 1))-$((CLUSTER_PORT + 2 * CLUSTER_SIZE)), user '$APP_USER' / password '$APP_PASS'; data in $CLUSTER_DIR"
  log "connection settings: eval \"\$($SELF cluster env)\""
}

cmd_cluster_down() {
  detect_binaries
  resolve_local
  say_fallback
  if [[ ! -d $CLUSTER_DIR ]]; then
    log "no RabbitMQ cluster: $CLUSTER_DIR does not exist"
    return 0
  fi
  take_lock "$CLUSTER_DIR/.lock"
  cluster_down_nodes
}

cluster_down_nodes() {
  local n
  [[ -d $CLUSTER_DIR ]] || return 0
  # Node 1 last: the node stopped last is the one that can boot alone, without waiting for the others.
  for ((n = CLUSTER_SIZE; n >= 1; n--)); do
    cluster_node "$n"
    if rmq_pid >/dev/null; then
      log "cluster node $n: stopping"
      rmq_down
    else
      rmq_kill_epmd
    fi
  done
}

cmd_cluster_status() {
  detect_binaries
  resolve_local
  local rc=0 n pid members=
  for ((n = 1; n <= CLUSTER_SIZE; n++)); do
    cluster_node "$n"
    if pid=$(rmq_pid); then
      echo "cluster node $n: running (pid $pid) node $RMQ_NODE, amqp 127.0.0.1:$RMQ_PORT, console http://127.0.0.1:$RMQ_MGMT_PORT (HTTP $(http_status /api/overview)), log $RMQ_LOGDIR/$RMQ_NODE.log"
      if [[ -z $members ]]; then
        members=$(rmq_cli rabbitmqctl -q cluster_status --formatter json 2>/dev/null | grep -o '"running_nodes":\[[^]]*\]' || true)
      fi
    else
      echo "cluster node $n: stopped"
      rc=3
    fi
  done
  [[ -n $members ]] && echo "cluster: ${members//\"/}"
  return "$rc"
}

cmd_cluster_env() {
  local n nodes= consoles=
  for ((n = 1; n <= CLUSTER_SIZE; n++)); do
    nodes+="${nodes:+,}127.0.0.1:$((CLUSTER_PORT + n))"
    consoles+="${consoles:+,}http://127.0.0.1:$((CLUSTER_PORT + CLUSTER_SIZE + n))"
  done
  cat <<EOF
export ConnectionStrings__Platform='Host=127.0.0.1;Port=$PG_PORT;Database=$APP_DB;Username=$APP_USER;Password=$APP_PASS'
export ConnectionStrings__RabbitMq='amqp://$APP_USER:$APP_PASS@127.0.0.1:$((CLUSTER_PORT + 1))/'
export Platform__RabbitMq__Nodes='$nodes'
export PLATFORM_PG_ADMIN='Host=127.0.0.1;Port=$PG_PORT;Database=postgres;Username=$APP_USER;Password=$APP_PASS'
export PLATFORM_RABBIT_MGMT_URL='http://127.0.0.1:$((CLUSTER_PORT + CLUSTER_SIZE + 1))'
export PLATFORM_RABBIT_MGMT_URLS='$consoles'
EOF
}

cmd_cluster_kill() { # n — kill -9 of the node's Erlang VM, for drills; prints its pid
  cluster_check_node_arg "${1:-}"
  detect_binaries
  resolve_local
  cluster_node "$1"
  local pid
  pid=$(rmq_pid) || die "cluster node $1 is not running"
  log "cluster node $1: kill -9 of its Erlang VM (pid $pid)"
  kill -KILL "$pid"
  printf '%s\n' "$pid"
}

cmd_cluster() { # up|down|status|env|kill n
  case ${1:-} in
    up) cmd_cluster_up ;;
    down) cmd_cluster_down ;;
    status) cmd_cluster_status ;;
    env) cmd_cluster_env ;;
    kill) cmd_cluster_kill "${2:-}" ;;
    *) usage ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Commands

cmd_env() {
  cat <<EOF
export ConnectionStrings__Platform='Host=127.0.0.1;Port=$PG_PORT;Database=$APP_DB;Username=$APP_USER;Password=$APP_PASS'
export ConnectionStrings__RabbitMq='amqp://$APP_USER:$APP_PASS@127.0.0.1:$RMQ_PORT/'
export PLATFORM_PG_ADMIN='Host=127.0.0.1;Port=$PG_PORT;Database=postgres;Username=$APP_USER;Password=$APP_PASS'
export PLATFORM_RABBIT_MGMT_URL='http://127.0.0.1:$RMQ_MGMT_PORT'
EOF
}

# Our ports lie in Linux's ephemeral range (32768-60999): the kernel may give one to an outgoing connection as its local
# port (a test run opens thousands), and then a server that starts later cannot bind it ("Address already in use": CI
# saw it once, for a dedicated pair started mid-run). As root, reserve them so the kernel never hands them out.
reserve_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports current wanted="$PG_PORT,$RMQ_PORT-$((RMQ_PORT + 3))"
  (( EUID == 0 )) && [[ -w $file ]] || return 0
  current=$(<"$file")
  [[ ",$current," == *",$PG_PORT,"* ]] && return 0
  echo "${current:+$current,}$wanted" >"$file" 2>/dev/null || log "could not reserve ports $wanted from the ephemeral range (read-only /proc): a rare 'Address already in use' stays possible"
}

cmd_up() {
  local t0=$SECONDS pid
  install_missing
  reserve_ports
  if (( EUID == 0 )); then
    id -u "$PG_USER" >/dev/null 2>&1 || die "system user '$PG_USER' is missing (reinstall postgresql)"
    id -u "$RMQ_USER" >/dev/null 2>&1 || die "system user '$RMQ_USER' is missing (reinstall rabbitmq-server)"
  fi
  # Erlang short node names need the host part to resolve.
  getent hosts localhost >/dev/null || die "'localhost' does not resolve (add '127.0.0.1 localhost' to /etc/hosts)"
  resolve_local
  say_fallback
  ensure_dirs
  take_lock

  # Fail on busy ports before launching anything, rather than leave a half-started pair.
  pg_running || pg_check_port
  rmq_pid >/dev/null || rmq_check_ports

  # RabbitMQ boots slowest, so launch it first and set PostgreSQL up while it boots.
  rmq_prepare
  if pid=$(rmq_pid); then
    if (( RMQ_CONF_CHANGED )); then
      log "RabbitMQ settings changed: restarting it"
      rmq_down
      rmq_start
    else
      log "RabbitMQ already running (pid $pid): reusing it"
    fi
  else
    rmq_start
  fi
  pg_up
  rmq_wait

  log "up in $((SECONDS - t0))s; data in $LOCAL"
  log "PostgreSQL: 127.0.0.1:$PG_PORT, database '$APP_DB', user '$APP_USER' / password '$APP_PASS'"
  log "RabbitMQ:   amqp://127.0.0.1:$RMQ_PORT/, user '$APP_USER' / password '$APP_PASS'"
  log "RabbitMQ management console: http://127.0.0.1:$RMQ_MGMT_PORT/ (user '$APP_USER' / password '$APP_PASS')"
  log "connection settings: eval \"\$($SELF env)\""
}

cmd_down() { # [postgres|rabbitmq]
  local which=${1:-both}
  case $which in both | postgres | rabbitmq) ;; *) die "down: unknown server '$which' (postgres or rabbitmq)" ;; esac
  detect_binaries
  resolve_local
  say_fallback
  if [[ ! -d $LOCAL ]]; then
    log "nothing to stop: $LOCAL does not exist"
    return 0
  fi
  take_lock
  # In a subshell: cluster_node points every RMQ_* setting at a cluster node, and the single node comes next.
  if [[ $which == both ]]; then (cluster_down_nodes); fi
  if [[ $which != postgres ]]; then rmq_down; fi
  if [[ $which != rabbitmq ]]; then pg_down; fi
}

cmd_status() {
  detect_binaries
  resolve_local
  say_fallback
  local rc=0 pid code
  echo "data folder: $LOCAL"
  if pg_running; then
    echo "PostgreSQL:  running (pid $(pg_pid)) on 127.0.0.1:$(pg_live_port), log $PG_LOG"
  else
    echo "PostgreSQL:  stopped"
    rc=3
  fi
  if pid=$(rmq_pid); then
    code=$(http_status /api/overview)
    echo "RabbitMQ:    running (pid $pid) node $RMQ_NODE, amqp 127.0.0.1:$RMQ_PORT, console http://127.0.0.1:$RMQ_MGMT_PORT (HTTP $code), log $RMQ_LOGDIR/$RMQ_NODE.log"
  else
    echo "RabbitMQ:    stopped"
    rc=3
  fi
  return "$rc"
}

cmd_reset() {
  cmd_down
  if [[ -d $LOCAL ]]; then
    [[ -e $LOCAL/.platform-local ]] || die "$LOCAL was not created by this script; not deleting it"
    log "deleting $LOCAL"
    rm -rf -- "$LOCAL"
  fi
  if [[ $PG_SOCK != "$PG_DIR"/* ]]; then rm -rf -- "$PG_SOCK"; fi
  return 0
}

usage() {
  sed -n '2,34p' "$SELF" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The service users may not be allowed into the caller's cwd (e.g. /root); all paths are absolute.
cd /

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down "${2:-both}" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  cluster) cmd_cluster "${2:-}" "${3:-}" ;;
  reset) cmd_reset ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac

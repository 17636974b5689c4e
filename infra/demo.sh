#!/usr/bin/env bash
# The platform on this machine with a demo batch: RabbitMQ + PostgreSQL (infra/local.sh), the schema
# (Platform.Migrator), one intake, one orchestrator and two workers as background processes, then a
# demo user and batch whose progress is shown live until it finishes.
#
#   infra/demo.sh          start (or restart) everything, run the demo batch, leave the services running
#   infra/demo.sh --once   the same, then stop the services again (a smoke test of the whole path)
#   infra/demo.sh stop     stop the services (infra/local.sh down stops RabbitMQ and PostgreSQL)
#
# The workers run research on the stand-in provider (tools/Platform.StandInProvider, an OpenAI-compatible program of
# our own, loopback only): the demo batch's tasks without `simulate` are real HTTP calls with token usage. To use a
# real provider instead, export Platform__Provider__BaseUrl, Platform__Provider__ApiKey and Platform__Provider__Model
# before running this script (docs/providers.md).
#
# Logs, process ids and the generated admin key live in .local/demo (git-ignored).
# PLATFORM_DEMO_PORT moves the five HTTP ports (default 55680: intake; +1 orchestrator; +2, +3 workers; +4 stand-in).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd -P)"
state="${PLATFORM_LOCAL_DIR:-$repo/.local}/demo"
base_port="${PLATFORM_DEMO_PORT:-55680}"
log() { printf '[demo] %s\n' "$*" >&2; }

# The stand-in first: the workers call it.
services=("standin tools/Platform.StandInProvider $((base_port + 4))" "intake services/Platform.Intake $base_port"
  "orchestrator services/Platform.Orchestrator $((base_port + 1))"
  "worker-1 services/Platform.Worker $((base_port + 2))" "worker-2 services/Platform.Worker $((base_port + 3))")

stop_services() {
  local pidfile pid
  for pidfile in "$state"/*.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping $(basename "$pidfile" .pid) (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

# Plain bash instead of curl: a fresh Debian may not have curl.
ready() {
  local port="$1" answer
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'GET /health/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  answer="$(head -n 1 <&3 || true)"
  exec 3<&- 3>&-
  [[ $answer == *" 200 "* ]]
}

start_service() {
  local name="$1" folder="$2" port="$3"
  local project bin
  project="$(basename "$folder")"
  bin="$repo/$folder/bin/Debug/net10.0"
  (
    cd "$bin"
    ASPNETCORE_URLS="http://127.0.0.1:$port" OTEL_SERVICE_NAME="$name" \
      exec setsid dotnet "$project.dll" >"$state/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$state/$name.pid"
}

wait_ready() {
  local name="$1" port="$2" pid
  pid="$(cat "$state/$name.pid")"
  for _ in $(seq 600); do
    ready "$port" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before it was ready; the end of $state/$name.log:"
      tail -n 30 "$state/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  log "$name was not ready on port $port within 60 s; see $state/$name.log"
  exit 1
}

case "${1:-run}" in
  stop) stop_services; exit 0 ;;
  run | --once) ;;
  *) echo "usage: infra/demo.sh [--once | stop]" >&2; exit 2 ;;
esac

# local.sh first: it refuses a data folder it did not create itself.
infra/local.sh up
mkdir -p "$state"
eval "$(infra/local.sh env)"

if [ ! -s "$state/admin-key" ]; then
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$state/admin-key")
fi
export Platform__AdminApiKey="$(cat "$state/admin-key")"
# The master key that encrypts users' provider keys at rest: made once, kept beside the data it unlocks, never
# committed (.local/ is git-ignored). Losing it makes the stored provider keys unreadable (docs/secrets.md).
if [ ! -s "$state/master-key" ]; then
  (umask 077; head -c 32 /dev/urandom | base64 >"$state/master-key")
fi
export Platform__Secrets__MasterKeyFile="$state/master-key"
# The platform's provider: the stand-in unless the caller named one (only the workers read these).
if [ -z "${Platform__Provider__BaseUrl:-}" ]; then
  export Platform__Provider__BaseUrl="http://127.0.0.1:$((base_port + 4))/v1"
  export Platform__Provider__ApiKey="sk-demo-standin"
  use_standin=1
else
  use_standin=0
fi

log "building"
dotnet build Platform.sln -c Debug -nologo -clp:ErrorsOnly -v:q
log "migrating the database"
dotnet "services/Platform.Migrator/bin/Debug/net10.0/Platform.Migrator.dll" migrate

stop_services
# Orchestrator first: its queues and bindings exist before anyone publishes.
for service in "${services[@]}"; do
  read -r name folder port <<<"$service"
  [ "$name" != standin ] || [ "$use_standin" = 1 ] || continue
  log "starting $name on port $port"
  start_service "$name" "$folder" "$port"
  wait_ready "$name" "$port"
done

api="http://127.0.0.1:$base_port"
status=0
demo_args=(--api "$api" --admin-key "$Platform__AdminApiKey")
# On the stand-in, a second user brings their own key (any key not starting sk-rejected/sk-noquota is accepted there).
if [ "$use_standin" = 1 ]; then demo_args+=(--own-key-base-url "$Platform__Provider__BaseUrl"); fi
dotnet tools/Platform.Demo/bin/Debug/net10.0/Platform.Demo.dll "${demo_args[@]}" || status=$?

if [ "${1:-run}" = "--once" ]; then
  stop_services
  exit "$status"
fi

cat <<INFO

The platform keeps running:
  API                http://127.0.0.1:$base_port   (admin key: $state/admin-key)
  RabbitMQ console   $PLATFORM_RABBIT_MGMT_URL/   (user platform / password platform)
  PostgreSQL         psql '$ConnectionStrings__Platform'   (or: psql -h 127.0.0.1 -p 55432 -U platform platform)
  provider           $Platform__Provider__BaseUrl$([ "$use_standin" = 1 ] && echo "   (the stand-in; its calls: http://127.0.0.1:$((base_port + 4))/_standin/calls)")
  service logs       $state/*.log
Stop it with: infra/demo.sh stop && infra/local.sh down
INFO
exit "$status"

#!/usr/bin/env bash
# The platform on this machine with a demo batch: RabbitMQ + PostgreSQL (infra/local.sh), the schema
# (Platform.Migrator), one intake, one orchestrator and two workers as background processes, then a
# demo user and batch, submitted and watched live with the `platform` CLI (tools/Platform.Cli) until it finishes.
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

# The demo a newcomer sees, told with the `platform` CLI (tools/Platform.Cli, docs/cli.md): a pro user, one batch of
# research tasks from a JSONL file, its live progress until it finishes, and the first results. Every other task has
# no `simulate` and so runs on the platform's provider (the stand-in unless the caller named one): real HTTP calls,
# with token usage.
platform() { dotnet "$repo/tools/Platform.Cli/bin/Debug/net10.0/Platform.Cli.dll" "$@"; }

demo_client() {
  local user_id user_key batch i company rc outcome=0 own_id own_key
  local companies=("Acme" "Globex" "Initech" "Umbrella" "Hooli" "Stark Industries" "Wayne Enterprises" "Tyrell" "Cyberdyne"
    "Soylent" "Wonka" "Aperture" "Black Mesa" "Massive Dynamic" "Vandelay" "Oscorp" "Gringotts" "Monarch" "Nakatomi" "Pied Piper")
  export PLATFORM_API="$api"
  user_id="demo-$(date -u +%Y%m%d-%H%M%S)"
  user_key="$(PLATFORM_API_KEY="$Platform__AdminApiKey" platform users create "$user_id" --tier pro)" || return
  PLATFORM_API_KEY="$Platform__AdminApiKey" platform users show "$user_id" | sed 's/^/[demo] created user /' || return

  # One task fails once and is retried, so the demo shows what a transient provider error looks like.
  RANDOM=42
  : >"$state/demo-batch.jsonl"
  for i in $(seq 0 $((${PLATFORM_DEMO_TASKS:-30} - 1))); do
    company="${companies[$((i % ${#companies[@]}))]}"
    if [ "$i" = 4 ]; then
      printf '{"key":"company-%03d","input":{"company":"%s","simulate":{"durationMs":1500,"fail":"transient","failTimes":1}}}\n' $((i + 1)) "$company"
    elif [ $((i % 2)) = 0 ]; then
      printf '{"key":"company-%03d","input":{"company":"%s"}}\n' $((i + 1)) "$company"
    else
      printf '{"key":"company-%03d","input":{"company":"%s","simulate":{"durationMs":%d}}}\n' $((i + 1)) "$company" $((800 + RANDOM % 2200))
    fi
  done >>"$state/demo-batch.jsonl"

  export PLATFORM_API_KEY="$user_key"
  batch="$(platform submit "$state/demo-batch.jsonl" --name "Demo: company research" --instructions "Research {company}: founding year, HQ")" || return
  log "submitted batch $batch from $state/demo-batch.jsonl; progress (platform watch $batch):"
  # 1: the batch ended with failed tasks; still worth showing what it did, and the demo's status says so.
  platform watch "$batch" --timeout "${PLATFORM_DEMO_TIMEOUT:-300}" || { rc=$?; [ "$rc" = 1 ] || return "$rc"; outcome=1; }
  platform results "$batch" --format jsonl -o "$state/demo-results.jsonl" || return
  platform results "$batch" --format csv -o "$state/demo-results.csv" || return
  log "the first results ($state/demo-results.jsonl; as CSV: $state/demo-results.csv):"
  head -n 3 "$state/demo-results.jsonl" | sed 's/^/  /'

  if [ -n "$own_key_base_url" ]; then
    # A user with their own provider key: checked against the provider, stored encrypted, shown back as a hint only; the
    # tier's own-key slots. The stand-in accepts any key not starting sk-rejected/sk-noquota.
    own_id="$user_id-own-key"
    own_key="sk-demo-own-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    PLATFORM_API_KEY="$(PLATFORM_API_KEY="$Platform__AdminApiKey" platform users create "$own_id" --tier pro)" || return
    printf '%s\n' "$own_key" | platform users provider-key "$own_id" --base-url "$own_key_base_url" | sed 's/^/[demo] /' || return
    platform users show "$own_id" | sed 's/^/[demo] created user /' || return
    for i in $(seq 1 40); do
      printf '{"key":"own-%03d","input":{"company":"%s"}}\n' "$i" "${companies[$(((i - 1) % ${#companies[@]}))]}"
    done >"$state/demo-own-key.jsonl"
    batch="$(platform submit "$state/demo-own-key.jsonl" --name "Demo: on the user's own key" --instructions "Research {company}: founding year, HQ")" || return
    log "submitted batch $batch with 40 provider tasks on $own_id's own key; progress:"
    platform watch "$batch" --timeout "${PLATFORM_DEMO_TIMEOUT:-300}" || { rc=$?; [ "$rc" = 1 ] || return "$rc"; outcome=1; }
  fi
  unset PLATFORM_API_KEY

  cat <<TRY
[demo] try it yourself as $user_id:
  export PLATFORM_API=$api PLATFORM_API_KEY=$user_key   # or: platform login
  platform queue
  platform submit FILE.csv --instructions "Research {company}" --watch
  platform results $batch --format csv -o results.csv
  platform cancel <a running batch>
  (platform is: dotnet tools/Platform.Cli/bin/Debug/net10.0/Platform.Cli.dll, or \`dotnet tool install\` it: docs/cli.md)
TRY
  return "$outcome"
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
# On the stand-in, a second user brings their own key.
own_key_base_url=""
if [ "$use_standin" = 1 ]; then own_key_base_url="$Platform__Provider__BaseUrl"; fi
demo_client || status=$?

if [ "${1:-run}" = "--once" ]; then
  stop_services
  exit "$status"
fi

cat <<INFO

The platform keeps running:
  the office         http://127.0.0.1:$base_port/   (sign in with the demo user's key above, or the admin key)
  API                http://127.0.0.1:$base_port   (admin key: $state/admin-key; docs at /docs)
  RabbitMQ console   $PLATFORM_RABBIT_MGMT_URL/   (user platform / password platform)
  PostgreSQL         psql '$ConnectionStrings__Platform'   (or: psql -h 127.0.0.1 -p 55432 -U platform platform)
  provider           $Platform__Provider__BaseUrl$([ "$use_standin" = 1 ] && echo "   (the stand-in; its calls: http://127.0.0.1:$((base_port + 4))/_standin/calls)")
  service logs       $state/*.log
Stop it with: infra/demo.sh stop && infra/local.sh down
INFO
exit "$status"

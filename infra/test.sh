#!/usr/bin/env bash
# Runs the whole test suite the way CI does: starts RabbitMQ and PostgreSQL (infra/local.sh), builds once,
# then runs every test project one after another (the end-to-end tests start real service processes and
# want the machine's cores to themselves). Ends with one line: "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

infra/local.sh up
# The browser tests (tests/Platform.Office.Tests) drive the chromium that local.sh installs; Playwright must never try to
# fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

# The RabbitMQ cluster of the node-loss drill boots while the build runs (most of its minute is waiting); the drill
# waits for it, or starts it itself and says why when this start failed.
cluster_log="$(mktemp -t platform-cluster-up.XXXXXX)"
infra/local.sh cluster up >"$cluster_log" 2>&1 &
cluster_up=$!

echo "[test] building"
dotnet build Platform.sln -c Debug -nologo -clp:ErrorsOnly
wait "$cluster_up" || { cat "$cluster_log"; echo "[test] infra/local.sh cluster up failed (above); the cluster drill will try again"; }
rm -f "$cluster_log"

# Kept after the run (git-ignored): the TRX files and their attachments, e.g. the office tests' screenshots.
results="$(pwd)/TestResults"
rm -rf "$results"
mkdir -p "$results"
status=0
for project in tests/*.Tests/*.csproj; do
  name="$(basename "$project" .csproj)"
  echo "[test] $name"
  if ! dotnet test "$project" --no-build -nologo --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
      --logger "console;verbosity=normal"; then
    status=1
  fi
  # Only the cluster drill uses the three-node RabbitMQ cluster: stopped while the next projects run, rather than left
  # idling beside them (about 5 % of a core).
  if [ "$name" = Platform.Drills.Tests ]; then
    infra/local.sh cluster down >/dev/null 2>&1 &
    cluster_down=$!
  fi
done
[ -z "${cluster_down:-}" ] || wait "$cluster_down" || echo "[test] infra/local.sh cluster down failed; the nodes may still run"

# One closing line over every project, counted from the TRX files (what actually ran).
summarize() {
  local passed=0 failed=0 skipped=0 f counters
  for f in "$results"/*.trx; do
    [ -f "$f" ] || continue
    counters="$(grep -o '<Counters [^>]*>' "$f" | head -1)"
    passed=$((passed + $(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")))
    failed=$((failed + $(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")))
    skipped=$((skipped + $(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters")))
  done
  echo "[test] results and attachments (the office's screenshots among them): $results"
  echo "$passed passed, $failed failed, $skipped skipped"
  [ "$passed" -gt 0 ]
}
if ! summarize; then
  echo "[test] no test ran" >&2
  status=1
fi
exit "$status"

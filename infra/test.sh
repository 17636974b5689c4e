#!/usr/bin/env bash
# Runs the whole test suite the way CI does: starts RabbitMQ and PostgreSQL (infra/local.sh), builds once,
# then runs the test projects, most of them two at a time (the lanes below). Ends with one line: "N passed, N failed,
# N skipped".
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

# The tests' processes (test hosts, and the services they start) live for seconds to minutes: the runtime's
# recompiling of hot methods from 100 ms after start-up on rarely pays back there. Waiting for 10 s of JIT quiet first
# (hexadecimal 0x2710 ms) cut a project's CPU by a third (Platform.Secrets.Tests: 99 -> 66-69 s, docs/development.md).
# Exported after the build, which it would slow; the benchmark and the demo keep the runtime's default.
export DOTNET_TC_CallCountingDelayMs=0x2710

# Kept after the run (git-ignored): the TRX files, each project's console log, and their attachments, e.g. the office
# tests' screenshots.
results="$(pwd)/TestResults"
rm -rf "$results"
mkdir -p "$results"
failed="$results/failed-projects"
: >"$failed"

# Runs one project into its own log, then prints that log whole (two lanes never interleave their lines).
run_project() {
  local name=$1 started=$SECONDS outcome=passed
  echo "[test] $name: started"
  if ! dotnet test "tests/$name/$name.csproj" --no-build -nologo --logger "trx;LogFileName=$name.trx" \
      --results-directory "$results" --logger "console;verbosity=normal" >"$results/$name.log" 2>&1; then
    outcome=FAILED
    echo "$name" >>"$failed"
  fi
  cat "$results/$name.log"
  echo "[test] $name: $outcome in $((SECONDS - started)) s"
  # Only the cluster drill uses the three-node RabbitMQ cluster: stopped while the next projects run, rather than left
  # idling beside them (about 5 % of a core).
  if [ "$name" = Platform.Drills.Tests ]; then
    infra/local.sh cluster down >/dev/null 2>&1 || echo "[test] infra/local.sh cluster down failed; the nodes may still run"
  fi
}
run_lane() { local name; for name in "$@"; do run_project "$name"; done; }

# About 40 % of two cores sits idle while one project runs (its tests wait on timers, tasks, heartbeats), so most
# projects run two at a time, in two rounds of two lanes; each fixture has its own database and vhost, and each project
# its own template database. The second round pairs the provider budget's tests (they measure from when the opening
# burst is spent, so a busy neighbour moves their window, not their figures) with two lighter projects. Fair share and
# isolation (WorkQueue) run last, alone: beside another project its 500 ms first-start bound was missed (1,060 ms).
round1_a=(Platform.Drills.Tests)
round1_b=(Platform.Secrets.Tests Platform.Telemetry.Tests Platform.Office.Tests Platform.EndToEnd.Tests Platform.Cli.Tests
  Platform.Contracts.Tests Platform.Orchestrator.Tests Platform.Intake.Tests Platform.Data.Tests)
round2_a=(Platform.Research.Tests)
round2_b=(Platform.Streams.Tests Platform.Cancellation.Tests)
alone=(Platform.WorkQueue.Tests)
# A project named nowhere above runs alone too, at the end: the safe place until someone decides otherwise.
named=" ${round1_a[*]} ${round1_b[*]} ${round2_a[*]} ${round2_b[*]} ${alone[*]} "
for project in tests/*.Tests/*.csproj; do
  name="$(basename "$project" .csproj)"
  [[ $named == *" $name "* ]] || alone+=("$name")
done

run_round() { # two lanes, named by their arrays
  local -n first=$1 second=$2
  run_lane "${first[@]}" &
  local lane=$!
  run_lane "${second[@]}"
  wait "$lane" || true
}
run_round round1_a round1_b
run_round round2_a round2_b
run_lane "${alone[@]}"

status=0
if [ -s "$failed" ]; then
  # Each failed test's name and message again, last: a long run's output is often read from its tail only.
  while read -r name; do
    awk -v project="$name" '
      /^  Failed /                                  { failed = 1; p = 1; n = 0; print "[test] " project ":" }
      /^  Passed /                                  { failed = 0; p = 0 }
      p && /^  Stack Trace:/                        { p = 0 }
      failed && /^  Standard Output Messages:/      { p = 1; n = 0 }
      p && n++ < 40' "$results/$name.log" | head -n 150 || true
  done <"$failed"
  echo "[test] failed: $(tr '\n' ' ' <"$failed")"
  status=1
fi

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

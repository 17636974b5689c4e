#!/usr/bin/env bash
# The work queue's benchmark (outside the pass/fail suite): starts RabbitMQ and PostgreSQL, builds, then prints
# slot utilization, dispatch latency p50/p99, orchestrator memory with 100,000 queued tasks and the fleet's fair share
# (first-task latency under saturation, weighted shares, Jain's index, the provider budget's use and 429s). About 10 minutes.
#   infra/bench.sh [--tasks 1000] [--rounds 3] [--warm-up 500] [--users 1000] [--per-user 100] [--backlog 500] [--probes 20] [--window 30]
#                   [--small 40] [--large 12] [--intake-warm-up 10] [--bulk 10000]
#                   [--only utilization|memory|fairness|throughput|intake|cancellation, or several: --only throughput,intake]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
infra/local.sh up
echo "[bench] building"
dotnet build Platform.sln -c Release -nologo -clp:ErrorsOnly -v:q
exec dotnet tools/Platform.Benchmark/bin/Release/net10.0/Platform.Benchmark.dll "$@"

#!/usr/bin/env bash
# A/B runs of bench/ingest.py against servers running different versions of the product code,
# interleaved so that the noise of a shared machine hits every variant alike. Benchmarks only.
#
#   CDP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench \
#     bench/compare.sh ROUNDS WORKERS "LABEL=DIR;LABEL=DIR;..." -- [bench/ingest.py options]
#
# DIR is a tree holding the product packages (cdp/, ingest/, ...): a snapshot made with
# `git archive COMMIT | tar -x -C DIR`, or the work tree itself. Use snapshots: the code must not
# change while it is measured. Example, HEAD~1 against the work tree:
#
#   git archive HEAD~1 | tar -x -C /tmp/cdp_before
#   bench/compare.sh 2 2 "before=/tmp/cdp_before;after=$PWD" -- --mode both --events 20000
#
# `DIR@DATABASE_URL` gives a variant a database of its own (for code at different schema
# versions; each is migrated by its own code first); the others use CDP_DATABASE_URL.
#
# Each server is `cdp serve --workers WORKERS`, as the product runs. Results: one JSON file per run
# in ${OUT:-/tmp/bench-compare}/, and a summary line per run. Each run gets its own --seed
# (SEED_BASE + run number), so every run meets the same mix of new visitors instead of the later
# runs finding the earlier runs' visitors already stored.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=$1 workers=$2 variants=$3
shift 3
[ "${1:-}" = "--" ] && shift
: "${CDP_DATABASE_URL:?set CDP_DATABASE_URL to the bench database}"
port=${PORT:-18080}
out=${OUT:-/tmp/bench-compare}
mkdir -p "$out"
py=$repo/.venv/bin/python
export CDP_DATABASE_URL
IFS=';' read -r -a list <<< "$variants"
# Run from an empty directory: `python -c` and uvicorn put the working directory first on
# sys.path, which would import the work tree's code instead of the variant's.
cd "$(mktemp -d)"
default_database=$CDP_DATABASE_URL
for variant in "${list[@]}"; do
  spec=${variant#*=} database=$default_database
  [ "$spec" != "${spec%%@*}" ] && database=${spec#*@}
  CDP_DATABASE_URL=$database PYTHONPATH="${spec%%@*}" \
    $py -c "from cdp.cli import main; main()" db upgrade >/dev/null
done

run=0
for round in $(seq 1 "$rounds"); do
  for variant in "${list[@]}"; do
    run=$((run + 1))
    label=${variant%%=*} spec=${variant#*=}
    CDP_DATABASE_URL=$default_database
    [ "$spec" != "${spec%%@*}" ] && CDP_DATABASE_URL=${spec#*@}
    product=${spec%%@*}
    # as the product runs: `cdp serve` (its workers each listen with SO_REUSEPORT)
    PYTHONPATH="$product" "$repo/.venv/bin/python" -c "from cdp.cli import main; main()" \
      serve --port "$port" --workers "$workers" >"$out/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 60); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
    name="r${round}_w${workers}_${label}"
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    PYTHONPATH="$product" timeout 900 $py "$repo/bench/ingest.py" --url "http://127.0.0.1:$port" \
      --json "$out/$name.json" --seed "$(( ${SEED_BASE:-1000} + run ))" "$@" \
      >"$out/$name.txt" 2>&1 || true
    kill "$server"; wait "$server" 2>/dev/null || true
    $py - "$out/$name.json" "$name" "$load" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print(f"{sys.argv[2]:<30} FAILED (see the .txt file)"); raise SystemExit
for p in r["phases"]:
    c, l = p["cpu_cores"], p["latency_ms"]
    n = p.get("events", 0) or 1
    print(f"{sys.argv[2]:<30} load {sys.argv[3]:<15} {p['name']:<6} {p['events_per_s']:7.0f} ev/s"
          f" {p['requests_per_s']:6.0f} req/s  p50 {l['p50']:6.1f} p95 {l['p95']:7.1f} ms"
          f"  cpu srv {c.get('server', 0):.2f} pg {c.get('postgres', 0):.2f}"
          f" other {max(0, c.get('machine_busy', 0) - c.get('server', 0) - c.get('postgres', 0) - c['client']):.2f}"
          f"  ms/ev srv {p.get('cpu_ms_per_event', {}).get('server', 0):.3f}"
          f" pg {p.get('cpu_ms_per_event', {}).get('postgres', 0):.3f}"
          f"  cap ~{p.get('cpu_bound_capacity_events_per_s', 0):.0f} ev/s"
          f"  durable {'OK' if r['durability']['ok'] else 'MISMATCH'}"
          + (f"  rollbacks {p['db']['xact_rollback']}" if 'db' in p else ""))
PY
  done
done

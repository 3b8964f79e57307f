#!/usr/bin/env bash
# A/B runs of bench/ingest.py against servers with different bench/proposals.py patches applied,
# interleaved so that the noise of a shared machine hits every variant alike. Benchmarks only.
#
#   CDP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench \
#     bench/compare.sh ROUNDS WORKERS "VARIANT1;VARIANT2;..." -- [bench/ingest.py options]
#
# A variant is a comma-separated list of proposals ("" or "base" = unchanged app), e.g.
#   bench/compare.sh 2 2 "base;any,touch,core,orjson,noping" -- --mode batch --events 20000
# Results: one JSON file per run in ${OUT:-/tmp/bench-compare}/, and a summary line per run.
# Each run gets its own --seed (SEED_BASE + run number), so every run meets the same mix of new
# visitors instead of the later runs finding the earlier runs' visitors already stored.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
product=${PRODUCT_PATH:-$repo}  # where cdp/ and ingest/ are imported from (a snapshot, or the tree)
rounds=$1 workers=$2 variants=$3
shift 3
[ "${1:-}" = "--" ] && shift
: "${CDP_DATABASE_URL:?set CDP_DATABASE_URL to the bench database}"
port=${PORT:-18080}
out=${OUT:-/tmp/bench-compare}
mkdir -p "$out"
py=$repo/.venv/bin/python
export CDP_DATABASE_URL
# Run from an empty directory: `python -c` and uvicorn put the working directory first on
# sys.path, which would import the work tree's code instead of $product.
cd "$(mktemp -d)"
export PYTHONPATH="$product:$repo"
$py -c "from cdp.cli import main; main()" db upgrade >/dev/null

IFS=';' read -r -a list <<< "$variants"
run=0
for round in $(seq 1 "$rounds"); do
  for variant in "${list[@]}"; do
    run=$((run + 1))
    [ "$variant" = "base" ] && variant=""
    BENCH_PROPOSALS="$variant" \
      "$repo/.venv/bin/uvicorn" bench.patched_asgi:app --host 127.0.0.1 --port "$port" \
      --workers "$workers" --log-level warning --no-access-log >"$out/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 60); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
    name="r${round}_w${workers}_${variant:-base}"
    timeout 900 $py "$repo/bench/ingest.py" --url "http://127.0.0.1:$port" \
      --json "$out/$name.json" --seed "$(( ${SEED_BASE:-1000} + run ))" "$@" \
      >"$out/$name.txt" 2>&1 || true
    kill "$server"; wait "$server" 2>/dev/null || true
    $py - "$out/$name.json" "$name" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print(f"{sys.argv[2]:<44} FAILED (see the .txt file)"); raise SystemExit
for p in r["phases"]:
    c, l = p["cpu_cores"], p["latency_ms"]
    print(f"{sys.argv[2]:<44} {p['name']:<6} {p['events_per_s']:8.0f} ev/s {p['requests_per_s']:7.0f} req/s"
          f"  p50 {l['p50']:6.1f} p95 {l['p95']:7.1f} p99 {l['p99']:7.1f} ms"
          f"  cpu srv {c.get('server', 0):.2f} pg {c.get('postgres', 0):.2f}"
          f" other {max(0, c.get('machine_busy', 0) - c.get('server', 0) - c.get('postgres', 0) - c['client']):.2f}"
          f"  cap ~{p.get('cpu_bound_capacity_events_per_s', 0):.0f} ev/s"
          f"  durable {'OK' if r['durability']['ok'] else 'MISMATCH'}"
          + (f"  rollbacks {p['db']['xact_rollback']}" if 'db' in p else ""))
PY
  done
done

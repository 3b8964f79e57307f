"""The app with some of bench/proposals.py applied, to measure them over HTTP (benchmarks only).

    BENCH_PROPOSALS=any,touch,core PYTHONPATH=/work/main \\
        CDP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench \\
        .venv/bin/uvicorn bench.patched_asgi:app --host 127.0.0.1 --port 18080 --workers 2 \\
        --log-level warning --no-access-log

(`cdp serve` runs exactly `uvicorn cdp.asgi:app` with these options, after the migrations; run
`cdp db upgrade` first.) With BENCH_PROPOSALS empty this is the unchanged app.
"""

import os

from bench import proposals

APPLIED = proposals.apply(os.environ.get("BENCH_PROPOSALS", "").split(","))

from cdp.app import create_app  # noqa: E402  (after the patches, which replace make_engine)

app = create_app()

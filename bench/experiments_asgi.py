"""The app with measurement experiments applied, for bench/compare.sh (benchmarks only).

    BENCH_EXPERIMENTS=httponly PYTHONPATH=/tmp/snapshot:/work/main \\
        CDP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench \\
        .venv/bin/uvicorn bench.experiments_asgi:app --host 127.0.0.1 --port 18080 --workers 2

Neither experiment is a proposal; each measures what something costs:

  httponly   /v1 routes parse and authenticate as usual, then answer 200 without touching the
             database: the HTTP + framework floor of a request
  nolock     NO advisory locks in identity resolution (unsafe): what waiting on them costs, an
             upper bound

(The proposals that bench/proposals.py prototyped as patches of commit 5c413cc are product code
since; see docs/benchmarks.md.) With BENCH_EXPERIMENTS empty this is the unchanged app.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any


def _httponly() -> None:
    import ingest.routes as routes
    from cdp.ingestion.service import IngestResult

    def _store(*_args: Any, messages: list[Any], **_kwargs: Any) -> IngestResult:
        return IngestResult(accepted=len(messages))

    routes._store = _store  # type: ignore[assignment]


def _nolock() -> None:
    import cdp.identity.repository as identity_repo

    def lock_identifiers(session: Any, identifiers: Iterable[Any]) -> None:
        return None

    identity_repo.lock_identifiers = lock_identifiers


EXPERIMENTS = {"httponly": _httponly, "nolock": _nolock}
APPLIED = sorted(n.strip() for n in os.environ.get("BENCH_EXPERIMENTS", "").split(",") if n.strip())
for _name in APPLIED:
    if _name not in EXPERIMENTS:
        raise SystemExit(f"unknown experiment {_name!r}; known: {sorted(EXPERIMENTS)}")
    EXPERIMENTS[_name]()

from cdp.app import create_app  # noqa: E402  (after the patches)

app = create_app()

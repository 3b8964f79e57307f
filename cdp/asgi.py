"""The ASGI app uvicorn serves (`cdp serve`, `uvicorn cdp.asgi:app`).

Run uvicorn itself with `--no-proxy-headers`, as `cdp serve` does: it otherwise believes
X-Forwarded-For from 127.0.0.1. The app believes it only from CDP_TRUSTED_PROXIES.
"""

from cdp.app import create_app
from cdp.serving import tune_garbage_collector

app = create_app()
tune_garbage_collector()

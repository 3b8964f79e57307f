"""The ASGI app uvicorn serves (`cdp serve`, `uvicorn cdp.asgi:app`)."""

from cdp.app import create_app
from cdp.serving import tune_garbage_collector

app = create_app()
tune_garbage_collector()

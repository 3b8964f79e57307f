"""The ASGI app uvicorn serves (`cdp serve`, `uvicorn cdp.asgi:app`)."""

from cdp.app import create_app

app = create_app()

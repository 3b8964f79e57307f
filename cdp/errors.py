"""The one small error hierarchy; turned into HTTP in cdp.app and into one line in cdp.cli."""


class CdpError(Exception):
    status_code = 400
    # The API's "error": the same words as FastAPI's own refusals of the same kind (cdp/app.py).
    kind = "invalid input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(CdpError):
    status_code = 400


class NotAuthenticated(CdpError):
    status_code = 401
    kind = "not authenticated"


class Forbidden(CdpError):
    status_code = 403
    kind = "forbidden"


class NotFound(CdpError):
    status_code = 404
    kind = "not found"


class Conflict(CdpError):
    status_code = 409
    kind = "conflict"


class PayloadTooLarge(CdpError):
    status_code = 413
    kind = "too large"

"""The one small error hierarchy; turned into HTTP in cdp.app and into one line in cdp.cli."""


class CdpError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(CdpError):
    status_code = 400


class NotAuthenticated(CdpError):
    status_code = 401


class Forbidden(CdpError):
    status_code = 403


class NotFound(CdpError):
    status_code = 404


class Conflict(CdpError):
    status_code = 409


class PayloadTooLarge(CdpError):
    status_code = 413

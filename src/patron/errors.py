"""Patron's own exceptions: the one tree the HTTP layer maps to statuses (in ``api.errors``).

    PatronError                      code, message; never shown as a 500
    ├── InvalidInput (422)           bad input that parsed as JSON: names the field
    ├── Unauthorized (401)           no key or an unknown key
    ├── Forbidden (403)              the key's role may not do this
    ├── NotFound (404)               absent, or belongs to another tenant
    ├── Conflict (409)               uniqueness, idempotency key reuse, not enough points
    └── Busy (503)                   what the request must change stayed held too long: send it again

Domain code raises these; nothing below the API knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class PatronError(Exception):
    """Base of every error Patron reports to a client."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class InvalidInput(PatronError):
    status = 422
    code = "invalid_input"


class Unauthorized(PatronError):
    status = 401
    code = "unauthorized"


class Forbidden(PatronError):
    status = 403
    code = "forbidden"


class NotFound(PatronError):
    status = 404
    code = "not_found"


class Conflict(PatronError):
    status = 409
    code = "conflict"


class Busy(PatronError):
    """What the request must change (a member's points, usually) was held by other requests for
    longer than a till should wait: nothing was recorded, and sending it again is safe."""

    status = 503
    code = "busy"


class InsufficientPoints(Conflict):
    """The member cannot spend what was asked (contract 5 and 7)."""

    code = "insufficient_points"

    def __init__(self, requested: int, available: int) -> None:
        super().__init__(f"cannot spend {requested} points: at most {available} can be spent here")
        self.requested = requested
        self.available = available


def validation_message(error: Mapping[str, Any]) -> str:
    """One pydantic error's message as our validators wrote it, without pydantic's "Value error, "."""
    return str(error.get("msg", "invalid input")).removeprefix("Value error, ")

"""Errors a caller can act on: what went wrong, in words for the caller.

They say nothing of HTTP: `ladder.problems` maps each to its status and problem
type, once, for both edges (the API and the stream service).
"""

from __future__ import annotations


class LadderError(Exception):
    """An error whose `detail` is meant for the caller; `extensions` add fields."""

    def __init__(self, detail: str, **extensions) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class BadRequest(LadderError):
    """Malformed input: a parameter, cursor or header that cannot be used."""


class Unauthorized(LadderError):
    """No valid credentials."""


class Forbidden(LadderError):
    """Valid credentials without the right to do this."""


class NotFound(LadderError):
    """Nothing with this id."""


class Conflict(LadderError):
    """The request conflicts with the current state."""


class Unprocessable(LadderError):
    """Well-formed, but not something that can be done."""


class IdempotencyKeyReused(Unprocessable):
    """An Idempotency-Key already used with another request."""


class SeasonClosed(Unprocessable):
    """A match played in a season that has closed: its standings are final."""


class ImportRejected(Unprocessable):
    """A file that cannot be imported as it is; nothing of it was written."""


class ServiceUnavailable(LadderError):
    """Something ladder depends on did not answer; retrying later may work."""


class UnsafeConfiguration(RuntimeError):
    """Development settings inside AWS: the process refuses to start (not a caller's
    error; no problem type)."""

"""Errors a caller can act on. The API renders each as RFC 9457 problem+json."""

from __future__ import annotations

from typing import ClassVar


class ProblemError(Exception):
    """An error with an HTTP status, a stable type slug and a human detail."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str] = "bad-request"

    def __init__(self, detail: str, **extensions) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class BadRequest(ProblemError):
    pass


class Unauthorized(ProblemError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(ProblemError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(ProblemError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(ProblemError):
    status, title, slug = 409, "Conflict", "conflict"


class Unprocessable(ProblemError):
    status, title, slug = 422, "Unprocessable request", "unprocessable"


class IdempotencyKeyReused(ProblemError):
    status, title, slug = 422, "Idempotency key reused", "idempotency-key-reused"


class ServiceUnavailable(ProblemError):
    """Something ladder depends on (the token issuer's keys) did not answer: retry."""

    status, title, slug = 503, "Service unavailable", "service-unavailable"

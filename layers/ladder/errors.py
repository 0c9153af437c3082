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


# Every problem type the API and the stream service answer with: slug → what it means.
# Each is served at `<API>/problems/<slug>` (the `type` of a problem+json body).
PROBLEM_TYPES: dict[str, str] = {
    "bad-request": "The request is malformed: a parameter, cursor or header cannot be used.",
    "bad-json": "The request body is not valid JSON.",
    "invalid-request": "A field of the request is invalid; `errors` names each one.",
    "unauthorized": "No valid bearer token: send a Cognito access token of an allowed client.",
    "forbidden": "The token is valid but lacks the scope this operation needs.",
    "not-found": "Nothing exists at this path or with this id.",
    "method-not-allowed": "This path does not answer that HTTP method.",
    "conflict": "The request conflicts with the current state (a handle taken, a match voided).",
    "unprocessable": "The request is well-formed but cannot be carried out as asked.",
    "idempotency-key-reused": "This Idempotency-Key was used with a different request.",
    "payload-too-large": "The request body is larger than the API accepts (64 KiB).",
    "unavailable": "The database does not answer; retry after the Retry-After seconds.",
    "service-unavailable": "A service ladder depends on does not answer; retry later.",
    "queue-unavailable": "The job queue (SQS) does not answer; retry later.",
    "not-ready": "A dependency (Postgres or Redis) does not answer; `checks` says which.",
    "internal": "An unexpected error on ladder's side; it has been logged.",
}

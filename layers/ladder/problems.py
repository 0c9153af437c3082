"""Problem types (RFC 9457): which error answers with which status, title and type.

One table for both edges, the API and the stream service (which has no web
framework in common with the API): errors stay free of HTTP, and a new error
class is a 500 until it is mapped here (a test checks every error class is).
Each type is served by the API at `<API>/problems/<slug>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ladder.aws import AwsUnavailable
from ladder.db.errors import DatabaseUnavailable
from ladder.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    ImportRejected,
    LadderError,
    NotFound,
    SeasonClosed,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)
from ladder.jobs.errors import QueueUnavailable

MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    status: int
    title: str
    description: str
    retry_after: int | None = None  # seconds, for a 503


PROBLEM_TYPES: dict[str, ProblemType] = {
    "bad-request": ProblemType(
        400, "Bad request", "The request is malformed: a parameter, cursor or header."
    ),
    "bad-json": ProblemType(400, "Malformed JSON", "The request body is not valid JSON."),
    "invalid-request": ProblemType(
        422, "Invalid request", "A field of the request is invalid; `errors` names each one."
    ),
    "unauthorized": ProblemType(
        401, "Unauthorized", "No valid bearer token: send an access token of an allowed client."
    ),
    "forbidden": ProblemType(
        403, "Forbidden", "The token is valid but lacks the scope this operation needs."
    ),
    "not-found": ProblemType(404, "Not found", "Nothing exists at this path or with this id."),
    "method-not-allowed": ProblemType(
        405, "Method not allowed", "This path does not answer that HTTP method."
    ),
    "conflict": ProblemType(
        409, "Conflict", "The request conflicts with the current state (a handle taken, a void)."
    ),
    "unprocessable": ProblemType(
        422, "Unprocessable request", "Well-formed, but it cannot be carried out as asked."
    ),
    "idempotency-key-reused": ProblemType(
        422, "Idempotency key reused", "This Idempotency-Key was used with a different request."
    ),
    "season-closed": ProblemType(
        422,
        "Season closed",
        "The match was played in a season that has closed; its standings are final.",
    ),
    "payload-too-large": ProblemType(
        413, "Payload too large", "The request body is larger than the API accepts (64 KiB)."
    ),
    "unavailable": ProblemType(
        503, "Service unavailable", "The database does not answer; retry later.", 5
    ),
    "service-unavailable": ProblemType(
        503, "Service unavailable", "A service ladder depends on does not answer; retry.", 5
    ),
    "queue-unavailable": ProblemType(
        503, "Queue unavailable", "The job queue (SQS) does not answer; retry later.", 5
    ),
    "aws-unavailable": ProblemType(
        503,
        "AWS unavailable",
        "An AWS service ladder uses (S3, SQS) refused or did not answer; retry later.",
        5,
    ),
    "not-ready": ProblemType(
        503, "Not ready", "A dependency (Postgres or Redis) does not answer; `checks` says which."
    ),
    "internal": ProblemType(
        500, "Internal error", "An unexpected error on ladder's side; it has been logged."
    ),
}

# Error class → its problem type (the most specific class wins).
ERROR_TYPES: dict[type[Exception], str] = {
    BadRequest: "bad-request",
    Unauthorized: "unauthorized",
    Forbidden: "forbidden",
    NotFound: "not-found",
    Conflict: "conflict",
    Unprocessable: "unprocessable",
    IdempotencyKeyReused: "idempotency-key-reused",
    ImportRejected: "unprocessable",
    SeasonClosed: "season-closed",
    ServiceUnavailable: "service-unavailable",
    QueueUnavailable: "queue-unavailable",
    AwsUnavailable: "aws-unavailable",
    DatabaseUnavailable: "unavailable",
}


# What a web framework answers itself (routing), as problem types.
HTTP_PROBLEMS = {404: "not-found", 405: "method-not-allowed"}


def slug_for_status(status: int) -> str:
    """The problem type of a status the framework answered (any other 4xx: bad request)."""
    return HTTP_PROBLEMS.get(status, "bad-request")


def slug_of(error: Exception) -> str:
    """The problem type of `error`: its nearest mapped class, else internal."""
    for cls in type(error).__mro__:
        if cls in ERROR_TYPES:
            return ERROR_TYPES[cls]
    return "internal"


def problem_body(base_url: str, slug: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The RFC 9457 body; `type` is `<base_url>problems/<slug>`."""
    kind = PROBLEM_TYPES[slug]
    return {
        "type": f"{base_url.rstrip('/')}/problems/{slug}",
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        **extra,
    }


def headers_for(slug: str) -> dict[str, str] | None:
    kind = PROBLEM_TYPES[slug]
    if kind.status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if kind.retry_after:
        return {"Retry-After": str(kind.retry_after)}
    return None


def error_detail(error: Exception) -> tuple[str, dict[str, Any]]:
    """What a caller is told of `error`: its own words for ours, nothing of a bug's."""
    if isinstance(error, LadderError):
        return error.detail, error.extensions
    if isinstance(error, DatabaseUnavailable):
        return "the database is not answering; retry later", {}
    return "an unexpected error occurred", {}

"""RFC 9457 problem+json for every error the API returns.

Bad input of any kind must be a 4xx with a clear detail; only our own
failures are 5xx, and those are logged with the request's correlation id.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ladder.db import DatabaseUnavailable
from ladder.errors import PROBLEM_TYPES, ProblemError
from ladder.observability import logger

MEDIA_TYPE = "application/problem+json"


def public_base_url(request: Request) -> str:
    """The URL the client called this service at, ending in `/`. Behind API Gateway's
    default domain the stage is part of the path, which the ASGI scope does not show."""
    context = (request.scope.get("aws.event") or {}).get("requestContext") or {}
    domain, stage = context.get("domainName"), context.get("stage")
    if domain:
        prefix = f"/{stage}" if stage and ".execute-api." in domain else ""
        return f"https://{domain}{prefix}/"
    return str(request.base_url)


def problem_response(
    base_url: str,
    status: int,
    title: str,
    detail: str,
    slug: str,
    headers: dict | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response whose `type` is `<base_url>problems/<slug>`, which the API
    serves (`GET /problems/{slug}`)."""
    if slug not in PROBLEM_TYPES:
        raise ValueError(f"undeclared problem type {slug!r}: add it to PROBLEM_TYPES")
    body = {
        "type": f"{base_url.rstrip('/')}/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(
        jsonable_encoder(body), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    slug: str,
    headers: dict | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json answer to `request`, its type served by this API."""
    base = public_base_url(request)
    return problem_response(base, status, title, detail, slug, headers, **extra)


# What Starlette raises itself (routing), as problem types.
HTTP_PROBLEMS = {404: ("Not found", "not-found"), 405: ("Method not allowed", "method-not-allowed")}


def _validation_detail(errors: list[dict]) -> tuple[str, list[dict]]:
    described = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        described.append({"location": location, "message": error.get("msg", "invalid")})
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in described)
    return summary or "the request is invalid", described


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 503:
            headers = {"Retry-After": "5"}
        return problem(
            request, exc.status, exc.title, exc.detail, exc.slug, headers, **exc.extensions
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = "the request body is not valid JSON"
            return problem(request, 400, "Malformed JSON", detail, "bad-json")
        detail, described = _validation_detail(errors)
        return problem(request, 422, "Invalid request", detail, "invalid-request", errors=described)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title, slug = HTTP_PROBLEMS.get(exc.status_code, ("Bad request", "bad-request"))
        return problem(request, exc.status_code, title, str(exc.detail), slug, exc.headers)

    @app.exception_handler(DatabaseUnavailable)
    async def on_db_down(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        logger.error("database unavailable", error=str(exc))
        return problem(
            request,
            503,
            "Service unavailable",
            "the database is not answering; retry later",
            "unavailable",
            {"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        detail = "an unexpected error occurred"
        return problem(request, 500, "Internal error", detail, "internal")

"""The API's errors as RFC 9457 problem+json, mapped by `ladder.problems`.

Bad input of any kind is a 4xx with a clear detail; only our own failures are
5xx, and those are logged with the request's correlation id.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ladder.observability import logger
from ladder.problems import (
    ERROR_TYPES,
    MEDIA_TYPE,
    PROBLEM_TYPES,
    error_detail,
    headers_for,
    problem_body,
    slug_for_status,
    slug_of,
)


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
    base_url: str, slug: str, detail: str, headers: dict | None = None, **extra: Any
) -> JSONResponse:
    body = problem_body(base_url, slug, detail, **extra)
    return JSONResponse(
        jsonable_encoder(body),
        status_code=body["status"],
        media_type=MEDIA_TYPE,
        headers=headers or headers_for(slug),
    )


def problem(request: Request, slug: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json answer to `request`, its type served by this API."""
    return problem_response(public_base_url(request), slug, detail, **extra)


def _validation_detail(errors: list[dict]) -> tuple[str, list[dict]]:
    described = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        described.append({"location": location, "message": error.get("msg", "invalid")})
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in described)
    return summary or "the request is invalid", described


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(request, "bad-json", "the request body is not valid JSON")
        detail, described = _validation_detail(errors)
        return problem(request, "invalid-request", detail, errors=described)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = slug_for_status(exc.status_code)
        return problem_response(public_base_url(request), slug, str(exc.detail), exc.headers)

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        """An error through `ladder.problems`: ours by their class, anything else a 500."""
        slug = slug_of(exc)
        if slug == "internal":
            logger.exception("unhandled error")
        elif PROBLEM_TYPES[slug].status == 503:
            cause = exc.__cause__ or exc  # what the dependency said, for the operator
            logger.error("a dependency is unavailable", error=f"{type(cause).__name__}: {cause}")
        detail, extra = error_detail(exc)
        return problem(request, slug, detail, **extra)

    # Each mapped class gets its handler (Starlette answers those and carries on);
    # `Exception` last, for bugs (logged, then re-raised to the server after the 500).
    for error in (*ERROR_TYPES, Exception):
        app.add_exception_handler(error, on_error)

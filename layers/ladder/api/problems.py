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
from ladder.errors import ProblemError
from ladder.observability import logger

PROBLEM_TYPE_BASE = "https://ladder.dev/problems/"
MEDIA_TYPE = "application/problem+json"


def problem(
    status: int, title: str, detail: str, slug: str, headers: dict | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(
        jsonable_encoder(body), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def _validation_detail(errors: list[dict]) -> tuple[str, list[dict]]:
    described = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        described.append({"location": location, "message": error.get("msg", "invalid")})
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in described)
    return summary or "the request is invalid", described


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def on_problem(_: Request, exc: ProblemError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(exc.status, exc.title, exc.detail, exc.slug, headers, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "Malformed JSON", "the request body is not valid JSON", "bad-json")
        detail, described = _validation_detail(errors)
        return problem(422, "Invalid request", detail, "invalid-request", errors=described)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        slug = title.lower().replace(" ", "-")
        return problem(exc.status_code, title, str(exc.detail), slug, exc.headers)

    @app.exception_handler(DatabaseUnavailable)
    async def on_db_down(_: Request, exc: DatabaseUnavailable) -> JSONResponse:
        logger.error("database unavailable", error=str(exc))
        return problem(
            503,
            "Service unavailable",
            "the database is not answering; retry later",
            "unavailable",
            {"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def on_bug(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return problem(500, "Internal error", "an unexpected error occurred", "internal")

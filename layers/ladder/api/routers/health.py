"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ladder.api.deps import ResourcesDep
from ladder.api.problems import problem, public_base_url
from ladder.problems import PROBLEM_TYPES

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: Postgres and Redis answer",
    responses={503: {"description": "a dependency does not answer"}},
)
def ready(request: Request, res: ResourcesDep) -> JSONResponse:
    checks = {}
    for name, ping in (("postgres", res.db.ping), ("redis", res.cache.ping)):
        try:
            ping()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready", whatever its kind
            checks[name] = f"failed: {type(exc).__name__}"
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        detail = f"not answering: {', '.join(failed)}"
        return problem(request, "not-ready", detail, checks=checks)
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/problems/{slug}", summary="What a problem type means (the `type` of errors)")
def problem_type(slug: str, request: Request) -> JSONResponse:
    if slug not in PROBLEM_TYPES:
        return problem(request, "not-found", f"no problem type {slug!r}")
    kind = PROBLEM_TYPES[slug]
    return JSONResponse(
        {
            "type": f"{public_base_url(request)}problems/{slug}",
            "title": kind.title,
            "status": kind.status,
            "description": kind.description,
        }
    )

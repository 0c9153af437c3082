"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ladder.api.deps import resources
from ladder.api.problems import problem
from ladder.resources import Resources

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: Postgres and Redis answer",
    responses={503: {"description": "a dependency does not answer"}},
)
def ready(res: Resources = Depends(resources)) -> JSONResponse:
    checks = {}
    for name, ping in (("postgres", res.db.ping), ("redis", res.cache.ping)):
        try:
            ping()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready", whatever its kind
            checks[name] = f"failed: {type(exc).__name__}"
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return problem(
            503, "Not ready", f"not answering: {', '.join(failed)}", "not-ready", checks=checks
        )
    return JSONResponse({"status": "ready", "checks": checks})

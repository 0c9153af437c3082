"""/v1/admin: recalculations, jobs, queues (all need ladder:admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from ladder.api.deps import require_scope, resources
from ladder.api.routers.matches import JobAccepted
from ladder.api.routers.params import OptionalIdempotencyKey, accept_job, written
from ladder.auth import SCOPE_ADMIN, Principal
from ladder.errors import NotFound
from ladder.idempotency import run_write
from ladder.jobs import queues
from ladder.jobs.schedule import schedule_backup, schedule_recalculation
from ladder.models import Page
from ladder.resources import Resources
from ladder.times import UtcTime

# One callable, so FastAPI verifies the token once per request, for the router's guard
# and for the handlers that need the caller (idempotency keys are per caller).
administrator = require_scope(SCOPE_ADMIN)
router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(administrator)])


class RecalculationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_played_at: UtcTime | None = Field(
        None, description="Recalculate matches played at or after this time; default: all."
    )


class JobStatus(BaseModel):
    id: UUID
    type: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: float
    error: str | None = None
    result: dict[str, Any] | None = None
    attempts: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class QueueStats(BaseModel):
    name: str
    visible: int
    in_flight: int
    delayed: int
    oldest_age_s: float | None
    dlq_depth: int | None


class Redriven(BaseModel):
    moved: int


@router.post("/recalculations", status_code=202, summary="Schedule a recalculation")
def post_recalculation(
    body: RecalculationRequest | None = None,
    idempotency_key: OptionalIdempotencyKey = None,
    principal: Principal = Depends(administrator),
    res: Resources = Depends(resources),
) -> JobAccepted:
    since = body.from_played_at if body else None

    def work(conn) -> tuple[int, dict]:
        job = schedule_recalculation(conn, from_played_at=since, from_seq=0 if since else None)
        return 202, {"job_id": str(job)}

    request = body.model_dump(mode="json") if body is not None else {}
    operation = "POST /v1/admin/recalculations"
    return accept_job(res, principal, idempotency_key, operation, request, work)


@router.get("/jobs/{job_id}", summary="A job's status and progress")
def get_job(job_id: UUID, res: Resources = Depends(resources)) -> JobStatus:
    row = res.db.run(
        lambda conn: conn.execute(
            "SELECT id, type, status, progress, error, result, attempts, created_at,"
            " started_at, finished_at FROM jobs WHERE id = %s",
            (job_id,),
        ).fetchone()
    )
    if row is None:
        raise NotFound(f"no job with id {job_id}")
    return JobStatus.model_validate(row)


class BackupSummary(BaseModel):
    id: str
    state: str
    schema_version: int
    started_at: datetime
    seconds: float
    tables: int
    rows: int
    bytes: int
    anonymized: bool
    last_verification: dict[str, Any] | None


@router.post(
    "/backups",
    status_code=202,
    summary="Start a backup (runs as a job); while one is queued or running, that one",
)
def post_backup(
    idempotency_key: OptionalIdempotencyKey = None,
    principal: Principal = Depends(administrator),
    res: Resources = Depends(resources),
) -> JobAccepted:
    def work(conn) -> tuple[int, dict]:
        return 202, {"job_id": str(schedule_backup(conn))}

    return accept_job(res, principal, idempotency_key, "POST /v1/admin/backups", {}, work)


@router.get("/backups", summary="Complete backups, newest first, with their last verification")
def get_backups(res: Resources = Depends(resources)) -> Page[BackupSummary]:
    from ladder.backup.backups import list_backups
    from ladder.backup.store import Store

    found = list_backups(Store(res.settings))
    return Page[BackupSummary](items=found, next_cursor=None)


@router.get("/queues", summary="Depth and age of each queue, with its DLQ")
def get_queues(res: Resources = Depends(resources)) -> Page[QueueStats]:
    return Page[QueueStats](items=queues.queue_stats(res.settings, res.db), next_cursor=None)


@router.post("/queues/{name}/redrive", summary="Move a queue's DLQ messages back to it")
def post_redrive(
    name: str,
    idempotency_key: OptionalIdempotencyKey = None,
    principal: Principal = Depends(administrator),
    res: Resources = Depends(resources),
) -> Redriven:
    # SQS is not in the transaction: the messages move first, then the answer is kept for
    # retries with the same key (moving again would move nothing, or newer failures).
    return written(
        run_write(
            res.db,
            principal=principal.subject,
            key=idempotency_key,
            operation="POST /v1/admin/queues/{name}/redrive",
            request={"name": name},
            work=lambda conn: (200, {"moved": queues.redrive(res.settings, name)}),
        )
    )

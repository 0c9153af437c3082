"""/v1/admin: recalculations, jobs, queues, backups (all need ladder:admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from ladder import commands
from ladder.api.deps import Admin, ResourcesDep, administrator
from ladder.api.routers.matches import JobAccepted
from ladder.api.routers.params import OptionalIdempotencyKey, caller, written
from ladder.errors import NotFound
from ladder.jobs import queues, store
from ladder.models import DEFAULT_LADDER, Page
from ladder.text import SLUG_PATTERN
from ladder.times import UtcTime

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(administrator)])


class RecalculationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_played_at: UtcTime | None = Field(
        None, description="Recalculate matches played at or after this time; default: all."
    )
    ladder: str = Field(DEFAULT_LADDER, pattern=SLUG_PATTERN, description="The ladder's slug.")


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


@router.post("/recalculations", status_code=202, summary="Schedule a recalculation")
def post_recalculation(
    principal: Admin,
    res: ResourcesDep,
    body: RecalculationRequest | None = None,
    idempotency_key: OptionalIdempotencyKey = None,
) -> JobAccepted:
    body = body or RecalculationRequest()
    who = caller(principal, idempotency_key)
    return written(commands.request_recalculation(res, who, body.from_played_at, body.ladder))


@router.get("/jobs/{job_id}", summary="A job's status and progress")
def get_job(job_id: UUID, res: ResourcesDep) -> JobStatus:
    row = store.job_status(res.db, job_id)
    if row is None:
        raise NotFound(f"no job with id {job_id}")
    return JobStatus.model_validate(row)


@router.post(
    "/backups",
    status_code=202,
    summary="Start a backup (runs as a job); while one is queued or running, that one",
)
def post_backup(
    principal: Admin, res: ResourcesDep, idempotency_key: OptionalIdempotencyKey = None
) -> JobAccepted:
    return written(commands.request_backup(res, caller(principal, idempotency_key)))


@router.get("/backups", summary="Complete backups, newest first, with their last verification")
def get_backups(res: ResourcesDep) -> Page[BackupSummary]:
    from ladder.backup.manifest import list_backups
    from ladder.backup.store import Store

    return Page[BackupSummary](items=list_backups(Store(res.settings)), next_cursor=None)


@router.get("/queues", summary="Depth and age of each queue, with its DLQ")
def get_queues(res: ResourcesDep) -> Page[QueueStats]:
    return Page[QueueStats](items=queues.queue_stats(res.settings, res.db), next_cursor=None)


@router.post("/queues/{name}/redrive", summary="Move a queue's DLQ messages back to it")
def post_redrive(
    name: str, principal: Admin, res: ResourcesDep, idempotency_key: OptionalIdempotencyKey = None
) -> Redriven:
    return written(commands.redrive(res, caller(principal, idempotency_key), name))

"""Application commands: each write the product offers, whole.

A command owns its transaction (once per Idempotency-Key when the caller sent
one) and what must follow the commit: dropping the cached leaderboard when
ratings changed, sending the jobs it scheduled. A router, a CLI command, a job
handler and the deploy's trigger each make one call here, so none of them can
forget an effect or run one before the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO
from uuid import UUID

import psycopg
from pydantic import BaseModel, TypeAdapter

from ladder import seasons
from ladder.errors import NotFound, Unprocessable
from ladder.idempotency import IdempotentResult, run_write
from ladder.jobs import queues, store
from ladder.jobs.dispatch import dispatch
from ladder.jobs.envelope import Envelope
from ladder.ladders import (
    DEFAULT_LADDER,
    LadderChange,
    LadderRow,
    NewLadder,
    find_ladder,
    insert_ladder,
    update_ladder,
)
from ladder.leaderboard import invalidate_leaderboard
from ladder.matches import MatchReport, record_match, void_match
from ladder.observability import MetricUnit, logger, metrics
from ladder.players import NewPlayer, insert_player
from ladder.rank_index import sync as rank_sync
from ladder.ratings.recalculation import Point, recalculate
from ladder.ratings.rules import sync_rating_rules
from ladder.resources import Resources
from ladder.settings import Settings

if TYPE_CHECKING:
    from ladder.backup.manifest import BackupManifest, Report
    from ladder.imports import Loaded


@dataclass(frozen=True)
class Caller:
    """Who asks, and the Idempotency-Key they sent (None: no retry protection asked)."""

    principal: str
    idempotency_key: str | None = None


# The operator at a terminal: the CLI sends no key (its writes are not retried).
OPERATOR = Caller("operator:cli")


@dataclass
class AfterCommit:
    """What a transaction asks for once it has committed."""

    jobs: list[UUID] = field(default_factory=list)
    boards_changed: set[str] = field(default_factory=set)  # ladders whose board changed
    # Standings written, by ladder, for the rank index.
    standings: dict[str, list[list[str]]] = field(default_factory=dict)
    # Ladders whose rank index must be rebuilt (a change of their board's policy).
    reindex: set[str] = field(default_factory=set)

    def clear(self) -> None:
        self.jobs, self.boards_changed, self.standings, self.reindex = [], set(), {}, set()

    def run(self, res: Resources) -> None:
        """Never raises: the write has committed, and its answer must say so. What fails
        here has a backstop (the cache's TTL; the sweeper sends undispatched jobs; the
        rank index's reconciliation)."""
        try:
            for ladder, standings in sorted(self.standings.items()):
                rank_sync.after_write(res, ladder, standings)
            for ladder in sorted(self.reindex):
                rank_sync.invalidate(res, ladder)
            for ladder in sorted(self.boards_changed):
                invalidate_leaderboard(res.cache, ladder)
            dispatch(res.db, res.settings, self.jobs)
        except Exception as exc:
            logger.warning("an after-commit effect failed; its backstop covers it", error=str(exc))


Work = Callable[[psycopg.Connection, AfterCommit], tuple[int, dict[str, Any]]]


def _write(
    res: Resources, caller: Caller, operation: str, request: dict[str, Any], work: Work
) -> IdempotentResult:
    """`work` in one transaction, then its effects.

    `work` runs only when no answer is stored for the key. So a replay of another
    request's answer carries no effects (that request's commit ran them), while a
    replay of this request's own attempt (its COMMIT was lost with the connection, and
    the retry found what it stored) still runs the effects that attempt collected.
    """
    effects = AfterCommit()

    def attempt(conn: psycopg.Connection) -> tuple[int, dict[str, Any]]:
        effects.clear()  # what a rolled-back attempt asked for is not asked twice
        return work(conn, effects)

    result = run_write(
        res.db,
        principal=caller.principal,
        key=caller.idempotency_key,
        operation=operation,
        request=request,
        work=attempt,
    )
    effects.run(res)
    return result


# The operation names key stored idempotency records (with the request's
# fingerprint): they stay as first released, whatever the route is called.


def create_player(res: Resources, caller: Caller, new: NewPlayer) -> IdempotentResult:
    def work(conn: psycopg.Connection, _: AfterCommit) -> tuple[int, dict]:
        return 201, insert_player(conn, new).model_dump(mode="json")

    return _write(res, caller, "POST /v1/players", new.model_dump(mode="json"), work)


def report_match(res: Resources, caller: Caller, report: MatchReport) -> IdempotentResult:
    """Rate and store a match (its answer carries both players' ratings)."""
    skew = timedelta(seconds=res.settings.max_future_skew)

    def work(conn: psycopg.Connection, after: AfterCommit) -> tuple[int, dict]:
        match, after.jobs, standings = record_match(conn, report, skew)
        after.boards_changed = {match.ladder}
        after.standings = {match.ladder: standings}
        return 201, match.model_dump(mode="json")

    result = _write(res, caller, "POST /v1/matches", _without_default_ladder(report), work)
    if result.replayed and result.status_code == 201:
        # The attempt that stored this answer may have died before its effects; the
        # sweeper sends its jobs, and the rank index takes the players' standings now.
        body = result.body
        ladder = body.get("ladder", DEFAULT_LADDER)  # answers stored before ladders: none
        rank_sync.refresh(res, ladder, [body["player_a"], body["player_b"]])
    return result


def _without_default_ladder(body: BaseModel) -> dict[str, Any]:
    """A request's fingerprint as first released, before ladders: naming the ladder
    `default` or none is the same request, and keys stored then still replay."""
    request = body.model_dump(mode="json")
    if request.get("ladder") == DEFAULT_LADDER:
        del request["ladder"]
    return request


def create_ladder(res: Resources, caller: Caller, new: NewLadder) -> IdempotentResult:
    """A new ladder (rules not named take the deployment's defaults)."""

    def work(conn: psycopg.Connection, _: AfterCommit) -> tuple[int, dict]:
        return 201, insert_ladder(conn, new, res.rules).model_dump(mode="json")

    return _write(res, caller, "POST /v1/ladders", new.model_dump(mode="json"), work)


def change_ladder(
    res: Resources, caller: Caller, slug: str, change: LadderChange
) -> IdempotentResult:
    """Change a ladder's name, rules or board; new rules schedule the recalculation
    that applies them to every rating of the ladder."""

    def work(conn: psycopg.Connection, after: AfterCommit) -> tuple[int, dict]:
        ladder, rerate = update_ladder(conn, slug, change)
        job = None
        if rerate is not None:
            job = store.schedule_recalculation(
                conn, ladder_id=rerate.id, from_played_at=None, from_seq=None
            )
            after.jobs = [job]
        after.boards_changed = {slug}
        if change.board is not None or change.rules is not None:
            after.reindex = {slug}  # the board's rules, or who is provisional, changed
        body = ladder.model_dump(mode="json")
        return 200, {**body, "recalculation_job_id": None if job is None else str(job)}

    request = {"slug": slug, **change.model_dump(mode="json", exclude_unset=True)}
    return _write(res, caller, "PATCH /v1/ladders/{slug}", request, work)


def void(res: Resources, caller: Caller, match_id: UUID) -> IdempotentResult:
    """Void a match; the recalculation it schedules removes it from every rating."""

    def work(conn: psycopg.Connection, after: AfterCommit) -> tuple[int, dict]:
        after.jobs = [void_match(conn, match_id)]
        return 202, {"job_id": str(after.jobs[0])}

    request = {"match_id": str(match_id)}
    return _write(res, caller, "POST /v1/matches/{id}/void", request, work)


def request_recalculation(
    res: Resources, caller: Caller, since: datetime | None, ladder: str = DEFAULT_LADDER
) -> IdempotentResult:
    """A recalculation of a ladder's matches played at or after `since` (None: all);
    one of that ladder still queued absorbs it."""

    def work(conn: psycopg.Connection, after: AfterCommit) -> tuple[int, dict]:
        try:
            ladder_id = find_ladder(conn, ladder).id
        except NotFound:  # a body naming what does not exist, as for a match
            raise Unprocessable(f"ladder: no ladder {ladder!r}") from None
        job = store.schedule_recalculation(
            conn,
            ladder_id=ladder_id,
            from_played_at=since,
            from_seq=0 if since else None,
        )
        after.jobs = [job]
        return 202, {"job_id": str(job)}

    # As the route's body was fingerprinted when first released (no body: `{}`; a time
    # as pydantic writes it), so stored keys still replay. An empty body `{}` now counts
    # as no body: they ask for the same thing.
    request = {} if since is None else {"from_played_at": _json_time(since)}
    if ladder != DEFAULT_LADDER:
        request["ladder"] = ladder
    return _write(res, caller, "POST /v1/admin/recalculations", request, work)


def _json_time(moment: datetime) -> str:
    return TypeAdapter(datetime).dump_python(moment, mode="json")


def request_backup(res: Resources, caller: Caller) -> IdempotentResult:
    """A backup job, or the one already queued or running."""

    def work(conn: psycopg.Connection, after: AfterCommit) -> tuple[int, dict]:
        after.jobs = [store.schedule_backup(conn)]
        return 202, {"job_id": str(after.jobs[0])}

    return _write(res, caller, "POST /v1/admin/backups", {}, work)


def redrive(res: Resources, caller: Caller, queue: str) -> IdempotentResult:
    """Move a queue's DLQ messages back to it. SQS is not in the transaction: the
    messages move first, then the answer is kept for retries with the same key (moving
    again would move nothing, or newer failures)."""

    def work(conn: psycopg.Connection, _: AfterCommit) -> tuple[int, dict]:
        return 200, {"moved": queues.redrive(res.settings, queue)}

    return _write(res, caller, "POST /v1/admin/queues/{name}/redrive", {"name": queue}, work)


def run_recalculation(
    res: Resources, job_id: UUID, ladder_id: int, start: Point | None, progress
) -> dict:
    """Run a recalculation job of one ladder (its own transactions; it marks the job
    succeeded in the one that applies it), then bring its changes to the rank index and
    drop that ladder's cached board."""
    result = recalculate(res.db, job_id=job_id, ladder_id=ladder_id, start=start, progress=progress)
    changed = [row["indexed"] for row in result.pop("changed", [])]
    rank_sync.after_recalculation(res, result["ladder"], changed)
    invalidate_leaderboard(res.cache, result["ladder"])
    return result


def close_seasons(res: Resources, ladder_id: int, now: datetime | None = None) -> list[int]:
    """Close every season of a ladder whose grace has passed (at `now`, default the
    database's clock); returns their numbers. The live board is untouched: a close
    changes no standing."""
    return seasons.close_due(res.db, ladder_id, now)


def tick_seasons(res: Resources, now: datetime | None = None) -> list[UUID]:
    """What the schedule runs every minute: schedule and send what seasons need."""
    jobs = seasons.tick(res.db, now)
    dispatch(res.db, res.settings, jobs)
    return jobs


def back_up(settings: Settings, report: Report | None = None) -> BackupManifest:
    """A backup of every table from one snapshot to S3 (the nightly schedule, the
    `backup.create` job and `ladder backup create` alike), counted in the metrics."""
    from ladder.backup.dump import create_backup  # only the paths that back up load it
    from ladder.backup.manifest import quiet
    from ladder.backup.store import Store

    manifest = create_backup(settings.database_url, Store(settings), report=report or quiet)
    metrics.add_metric(name="BackupSucceeded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="BackupSeconds", unit=MetricUnit.Seconds, value=manifest.total_seconds)
    return manifest


def import_matches(
    res: Resources, source: BinaryIO, ladder: str, report: Report | None = None
) -> Loaded:
    """Validate a matches CSV whole, then store it in the ladder with one transaction
    (nothing if this file was imported there before) and schedule the recalculation
    that rates it, which the caller runs (`run_job_here`)."""
    from ladder import imports  # only the CLI imports

    report = report or (lambda *_: None)
    latest = imports.latest_allowed(res.settings.max_future_skew)
    rows = imports.read_matches(source, latest=latest, report=report)

    def reserve(conn: psycopg.Connection) -> tuple[LadderRow, Loaded | int]:
        target = find_ladder(conn, ladder)
        return target, imports.find_import(conn, target, rows.sha256) or imports.reserve_seqs(
            conn, len(rows)
        )

    target, found = res.db.run(reserve)
    if isinstance(found, imports.Loaded):
        return found
    try:
        loaded = res.db.run(lambda conn: imports.load_matches(conn, target, rows, found, report))
    except psycopg.errors.UniqueViolation:  # the same file, imported at the same moment
        again = res.db.run(lambda conn: imports.find_import(conn, target, rows.sha256))
        if again is None:
            raise
        return again
    store.mark_dispatched(res.db, [loaded.job_id])  # run by the caller, not the queue
    return loaded


def import_standings(
    res: Resources, source: BinaryIO, ladder: str, report: Report | None = None
) -> Loaded:
    """Validate a standings CSV whole, then store its opening balances in the ladder in
    one transaction (nothing if this file was imported there before). When a
    recalculation must place them (a soft reset already written after their instant),
    it is scheduled for the caller to run (`run_job_here`)."""
    from ladder import balances  # only the CLI imports

    rows = balances.read_standings(source, report or (lambda *_: None))

    def work(conn: psycopg.Connection) -> Loaded:
        return balances.load_standings(conn, find_ladder(conn, ladder), rows)

    loaded = res.db.run(work)
    if not loaded.already:
        rank_sync.invalidate(res, ladder)  # balances can put players on the board
        invalidate_leaderboard(res.cache, ladder)
        if loaded.job_id is not None:
            store.mark_dispatched(res.db, [loaded.job_id])  # run by the caller
    return loaded


def run_job_here(res: Resources, job_id: UUID) -> dict | None:
    """Run a scheduled job in this process, as the worker would (claimed by id, so a
    delivery of the same job elsewhere does nothing twice)."""
    from ladder.job_handlers import handle  # it calls back into this module

    job = store.job_status(res.db, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return handle(res, Envelope(type=job["type"], id=job_id, payload=job["payload"]))


def adopt_rating_rules(res: Resources) -> UUID | None:
    """Record the configured rating rules; if they changed, the full recalculation that
    applies them is scheduled and sent (its job id returned)."""
    job_id = sync_rating_rules(res.db, res.rules)
    if job_id is not None:
        dispatch(res.db, res.settings, [job_id])
    return job_id

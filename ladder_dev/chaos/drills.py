"""The chaos drills: each injects one fault into a fresh local stack while a bounded
workload runs, then checks that the system recovered and lost nothing.

A drill returns a `DrillReport` (what was injected, what was measured, each
check with its verdict, timings); `record.py` appends it to the incident log.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import psycopg

from ladder.backup import dump, restore, verify
from ladder.backup.manifest import list_backups
from ladder.backup.store import Store
from ladder.errors import NotFound
from ladder.jobs.envelope import RECALCULATE
from ladder.jobs.store import schedule_recalculation
from ladder_dev.bench import generate_ladder_sql
from ladder_dev.chaos.stack import (
    DrillStack,
    Subscriber,
    Workload,
    expected_events,
    ratings_equal_replay,
)
from ladder_dev.local_services import wait_until
from ladder_dev.streaming import REPO

TOPICS = frozenset({"matches", "leaderboard"})


@dataclass(frozen=True)
class Scale:
    """How much load a drill runs under; tests use `SMALL`, the CLI `FULL`."""

    players: int
    matches: int
    writers: int
    subscribers: int
    outage_seconds: float
    partition_seconds: float  # long enough at FULL for every client-side timeout to fire
    recalc_matches: int
    backup_matches: int


SMALL = Scale(
    players=12,
    matches=120,
    writers=3,
    subscribers=2,
    outage_seconds=1.0,
    partition_seconds=3.0,
    recalc_matches=40_000,
    backup_matches=150_000,
)
FULL = Scale(
    players=50,
    matches=1500,
    writers=6,
    subscribers=10,
    outage_seconds=3.0,
    partition_seconds=15.0,
    recalc_matches=200_000,
    backup_matches=600_000,
)


@dataclass
class DrillReport:
    drill: str
    injected: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    measured: dict[str, object] = field(default_factory=dict)
    checks: list[tuple[str, bool]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def check(self, what: str, ok: bool) -> bool:
        self.checks.append((what, bool(ok)))
        return bool(ok)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(ok for _, ok in self.checks)


class Clock:
    def __init__(self, report: DrillReport) -> None:
        self.report = report
        self.started = time.monotonic()

    def mark(self, name: str) -> float:
        at = round(time.monotonic() - self.started, 3)
        self.report.timings[name] = at
        return at


def _check_delivery(report: DrillReport, stack: DrillStack, subscribers: list[Subscriber]):
    """Each subscriber got every committed event on its topics, once, in order, no reset."""
    stack.wait_published()
    expected = expected_events(stack, TOPICS)
    for sub in subscribers:
        sub.wait_for(expected, timeout=60)
        sub.stop()
    report.measured["events committed"] = len(expected)
    report.measured["subscriber reconnects"] = sum(s.reconnects for s in subscribers)
    report.measured["resets"] = sum(s.resets for s in subscribers)
    complete = all(sorted(set(s.ids)) == expected for s in subscribers)
    ordered_once = all(s.ids == sorted(set(s.ids)) for s in subscribers)
    report.check(
        f"all {len(subscribers)} subscribers received every one of the {len(expected)} events",
        complete,
    )
    report.check("no event was delivered twice or out of order", ordered_once)
    report.check("no subscriber was told to reset", report.measured["resets"] == 0)


def _check_writes(report: DrillReport, stack: DrillStack, workload: Workload) -> None:
    stored = {str(i) for (i,) in stack.sql("SELECT id FROM matches")}
    acknowledged = workload.acknowledged
    report.measured["writes acknowledged"] = len(acknowledged)
    report.measured["first attempts failed"] = dict(workload.first_attempt_failures)
    report.check("every acknowledged write is stored", acknowledged <= stored)
    report.check(
        f"every one of the {workload.attempted} writes was eventually acknowledged",
        len(acknowledged) == workload.attempted,
    )
    ok, worst = ratings_equal_replay(stack)
    report.measured["largest rating difference to a replay"] = worst
    report.check("every rating equals a replay of the stored matches", ok)


def _subscribers(urls: list[str], count: int) -> list[Subscriber]:
    subs = [Subscriber(urls) for _ in range(count)]
    for sub in subs:
        sub.start()
    for sub in subs:
        if not sub.connected.wait(15):
            raise RuntimeError("a subscriber could not connect")
    return subs


def _workload(stack: DrillStack, scale: Scale) -> Workload:
    return Workload(
        stack,
        players=scale.players,
        matches=scale.matches,
        writers=scale.writers,
        pause=0.01,
    ).start()


def redis_restart(scale: Scale) -> DrillReport:
    report = DrillReport(
        "redis-restart",
        f"Redis stopped for {scale.outage_seconds} s mid-traffic, then started empty",
    )
    with DrillStack(streams=1) as stack:
        clock = Clock(report)
        subs = _subscribers([stack.streams[0].url], scale.subscribers)
        workload = _workload(stack, scale)
        wait_until(lambda: workload.written() >= scale.matches // 3, what="a third written")
        reads_before, writes_before = workload.reads_ok(), workload.written()
        clock.mark("redis stopped")
        stack.redis.stop()
        time.sleep(scale.outage_seconds)
        reads_during = workload.reads_ok() - reads_before
        report.measured["writes acknowledged while Redis was down"] = (
            workload.written() - writes_before
        )
        stack.redis.start()
        clock.mark("redis started")
        workload.join()
        clock.mark("workload done")
        report.measured["successful reads while Redis was down"] = reads_during
        report.check("the API answered reads while Redis was down", reads_during > 0)
        report.measured["API 5xx"] = workload.server_errors()
        report.check(
            "the API answered no 5xx (the cache failed open)", workload.server_errors() == 0
        )
        _check_writes(report, stack, workload)
        _check_delivery(report, stack, subs)
        clock.mark("subscribers caught up")
    return report


def db_connections_killed(scale: Scale) -> DrillReport:
    report = DrillReport(
        "db-connections-killed",
        "pg_terminate_backend on every connection of the API, stream service, relay and worker",
    )
    with DrillStack(streams=1) as stack:
        clock = Clock(report)
        subs = _subscribers([stack.streams[0].url], scale.subscribers)
        workload = _workload(stack, scale)
        wait_until(lambda: workload.written() >= scale.matches // 3, what="a third written")
        in_flight = workload.in_flight
        clock.mark("connections killed")
        (killed,) = stack.sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )[0]
        report.measured["backends terminated"] = killed
        report.measured["requests in flight at the kill"] = in_flight
        workload.join()
        clock.mark("workload done")
        failed = workload.server_errors()
        report.measured["API 5xx or broken responses"] = failed
        report.check(
            f"no more 5xx than requests in flight at the kill ({failed} ≤ {in_flight})",
            failed <= in_flight,
        )
        _check_writes(report, stack, workload)
        _check_delivery(report, stack, subs)
        # The worker's connections were killed too: a job after the kill must still run.
        response = httpx.post(
            f"{stack.api.url}/v1/admin/recalculations", headers=stack.token("ladder:admin")
        )
        job_id = response.json()["job_id"]
        done = _job_finished(stack, job_id, timeout=60)
        clock.mark("job after the kill finished")
        report.check("the job worker reconnected and ran a job after the kill", done == "succeeded")
        if stack.worker_errors:
            report.measured["worker errors"] = len(stack.worker_errors)
    return report


def _job_finished(stack: DrillStack, job_id: str, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = stack.sql("SELECT status FROM jobs WHERE id = %s", (job_id,))
        if rows and rows[0][0] in ("succeeded", "failed"):
            return rows[0][0]
        time.sleep(0.1)
    return None


def _leader_first(stack: DrillStack) -> tuple:
    """The two stream processes, the one whose relay leads first."""
    wait_until(
        lambda: sum(s.metric("ladder_relay_leader") for s in stack.streams) == 1,
        what="a relay leader",
    )
    a, b = stack.streams
    return (a, b) if a.metric("ladder_relay_leader") == 1 else (b, a)


def _kill_a_stream_process(report: DrillReport, scale: Scale, *, kill_the_leader: bool) -> None:
    """SIGKILL one of two stream processes mid-traffic. Killing the relay leader, the
    clients sit on the other process (the kill hits the relay, not them); otherwise
    they sit on the victim and must resume on the survivor."""
    with DrillStack(streams=2) as stack:
        clock = Clock(report)
        leader, follower = _leader_first(stack)
        victim, survivor = (leader, follower) if kill_the_leader else (follower, leader)
        urls = [survivor.url] if kill_the_leader else [victim.url, survivor.url]
        subs = _subscribers(urls, scale.subscribers)
        workload = _workload(stack, scale)
        wait_until(lambda: workload.written() >= scale.matches // 3, what="a third written")
        killed_at = clock.mark("process killed")
        victim.stop(signal.SIGKILL)
        wait_until(lambda: survivor.metric("ladder_relay_leader") == 1, what="relay failover")
        report.measured["seconds until the survivor's relay leads"] = round(
            clock.mark("survivor leads the relay") - killed_at, 3
        )
        workload.join()
        clock.mark("workload done")
        _check_writes(report, stack, workload)
        _check_delivery(report, stack, subs)
        clock.mark("subscribers caught up")
        report.measured["resumes served by the survivor"] = survivor.metric(
            "ladder_stream_resumes_total"
        )


def stream_task_killed(scale: Scale) -> DrillReport:
    report = DrillReport(
        "stream-task-killed",
        f"SIGKILL of the stream process holding all {scale.subscribers} clients (its relay"
        " follows)",
    )
    _kill_a_stream_process(report, scale, kill_the_leader=False)
    return report


def relay_killed(scale: Scale) -> DrillReport:
    report = DrillReport(
        "relay-killed", "SIGKILL of the stream process whose relay leads; clients on the other"
    )
    _kill_a_stream_process(report, scale, kill_the_leader=True)
    return report


def _seed(stack: DrillStack, players: int, matches: int) -> None:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(generate_ladder_sql(players, matches))


def _deliver(stack: DrillStack, envelope: dict) -> subprocess.Popen:
    """A worker process that receives `envelope` as an SQS message (ladder_dev.chaos.deliver)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ladder_dev.chaos.deliver", json.dumps(envelope)],
        cwd=REPO,
        env={**stack.env, "LADDER_JOBS_QUEUE_URL": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def job_redelivery(scale: Scale) -> DrillReport:
    report = DrillReport(
        "job-redelivery",
        "a full recalculation's worker SIGKILLed in its apply phase, the message delivered"
        " again, then once more after it succeeded",
    )
    with DrillStack(streams=0, worker=False) as stack:
        clock = Clock(report)
        _seed(stack, max(50, scale.recalc_matches // 100), scale.recalc_matches)
        clock.mark("seeded")
        with psycopg.connect(stack.database_url, autocommit=True) as conn, conn.transaction():
            job_id = schedule_recalculation(conn, ladder_id=1, from_played_at=None, from_seq=None)
        envelope = {"type": RECALCULATE, "id": str(job_id), "payload": {"ladder": 1, "from": None}}

        def job() -> tuple[str, float, int]:
            return stack.sql(
                "SELECT status, progress, attempts FROM jobs WHERE id = %s", (job_id,)
            )[0]

        first = _deliver(stack, envelope)
        # The apply phase (progress 0.6) is the one transaction that writes ratings.
        wait_until(
            lambda: first.poll() is not None or job()[1] >= 0.6,
            what="the apply phase",
            timeout=120,
            interval=0.01,
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        clock.mark("worker killed")
        status, progress, _ = job()
        report.measured["job status and progress after the kill"] = f"{status}, {progress}"
        report.check("the worker died before committing", status != "succeeded")

        for delivery in ("redelivered message", "duplicate after success"):
            process = _deliver(stack, envelope)
            process.communicate(timeout=300)
            clock.mark(f"{delivery} handled")
            report.check(f"the {delivery} was handled without failure", process.returncode == 0)

        status, _, attempts = job()
        report.measured["job attempts"] = attempts
        report.check(
            "the job succeeded after two claims (killed, redelivered; the duplicate was skipped)",
            (status, attempts) == ("succeeded", 2),
        )
        (history,) = stack.sql("SELECT count(*) FROM rating_history")[0]
        (matches,) = stack.sql("SELECT count(*) FROM matches")[0]
        report.measured["matches"] = matches
        report.measured["rating history rows"] = history
        report.check(
            "exactly two history rows per match (no double application)", history == 2 * matches
        )
        (completed,) = stack.sql(
            "SELECT count(*) FROM event_outbox WHERE type = 'recalculation.completed'"
        )[0]
        report.check("one recalculation.completed event", completed == 1)
        ok, worst = ratings_equal_replay(stack)
        report.measured["largest rating difference to a replay"] = worst
        report.check("every rating equals a replay", ok)
    return report


def backup_interrupted(scale: Scale) -> DrillReport:
    report = DrillReport(
        "backup-interrupted", "SIGKILL of `ladder backup create` while it uploads to S3"
    )
    with DrillStack(streams=0, worker=False) as stack:
        clock = Clock(report)
        _seed(stack, max(50, scale.backup_matches // 100), scale.backup_matches)
        clock.mark("seeded")
        store = Store(stack.settings)
        process = subprocess.Popen(
            [sys.executable, "-m", "ladder.cli", "backup", "create"],
            cwd=REPO,
            env=stack.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Its progress lines (stderr) name the table it starts: kill it as soon as it
        # is past the first one, i.e. while it streams the big tables to S3.
        for line in process.stderr:
            if line.startswith("backup: ") and not line.startswith("backup: 0%"):
                process.send_signal(signal.SIGKILL)
                report.measured["killed at"] = line.strip()
                break
        process.wait(10)
        clock.mark("backup killed")
        report.check("the backup was killed mid-upload", process.returncode == -signal.SIGKILL)
        keys = [
            o["Key"]
            for o in store.client.list_objects_v2(Bucket=store.bucket, Prefix="backups/").get(
                "Contents", []
            )
        ]
        report.measured["objects left by the killed backup"] = len(keys)
        report.check("it left no manifest", not any(k.endswith("/manifest.json") for k in keys))
        report.check("it is not listed", list_backups(store) == [])
        partial = {k.split("/")[1] for k in keys}
        refused = True
        for backup_id in partial:
            try:
                restore.restore_backup(store, backup_id, stack.database_url)
                refused = False
            except NotFound:
                pass
            except Exception:  # it got as far as a restore: not refused for the right reason
                refused = False
        report.check("a restore of it is refused", refused)
        manifest = dump.create_backup(stack.database_url, store)
        clock.mark("next backup done")
        verified = verify.verify_backup(store, manifest.id)
        clock.mark("next backup verified")
        report.check("the next backup succeeds and verifies", verified["ok"])
        report.check(
            "only the complete backup is listed",
            [b["id"] for b in list_backups(store)] == [manifest.id],
        )
    return report


def _partition(report: DrillReport, scale: Scale, which: str) -> None:
    """Cut the stack off from `which` ("postgres" or "redis") mid-traffic, heal, and measure
    how soon every subscriber had every event committed until then."""
    with DrillStack(streams=1, proxied=True) as stack:
        proxy = stack.postgres_proxy if which == "postgres" else stack.redis_proxy
        clock = Clock(report)
        subs = _subscribers([stack.streams[0].url], scale.subscribers)
        workload = _workload(stack, scale)
        wait_until(lambda: workload.written() >= scale.matches // 3, what="a third written")
        reads_before, writes_before = workload.reads_ok(), workload.written()
        clock.mark(f"{which} partitioned")
        proxy.partition()
        time.sleep(scale.partition_seconds)
        report.measured[f"writes acknowledged while {which} was cut off"] = (
            workload.written() - writes_before
        )
        report.measured[f"reads answered while {which} was cut off"] = (
            workload.reads_ok() - reads_before
        )
        proxy.heal()
        healed = clock.mark("partition healed")
        # Every event committed by now must reach every subscriber: how long did it take?
        stack.wait_published(timeout=120)
        committed = expected_events(stack, TOPICS)
        for sub in subs:
            sub.wait_for(committed, timeout=120)
        caught_up = clock.mark("subscribers had every event committed until the heal")
        report.measured["seconds from the heal until every subscriber caught up"] = round(
            caught_up - healed, 3
        )
        workload.join()
        clock.mark("workload done")
        errors = {
            status: count
            for stats in workload.routes.values()
            for status, count in stats.statuses.items()
            if isinstance(status, str) or status >= 500
        }
        report.measured["API errors (status: count)"] = errors
        if which == "redis":
            report.check("the API answered no 5xx (the cache failed open)", not errors)
        else:
            report.check(
                "every API error was a 503 to retry, none a 500",
                set(errors) <= {503, "ReadTimeout"},
            )
        _check_writes(report, stack, workload)
        _check_delivery(report, stack, subs)
        report.check(
            f"delivery caught up within 60 s of the heal ({caught_up - healed:.1f} s)",
            caught_up - healed <= 60,
        )


def redis_partition(scale: Scale) -> DrillReport:
    report = DrillReport(
        "redis-partition",
        f"Redis cut off by a TCP proxy for {scale.partition_seconds} s mid-traffic (open and new"
        " connections stall), then healed with every stalled connection reset",
    )
    _partition(report, scale, "redis")
    return report


def postgres_partition(scale: Scale) -> DrillReport:
    report = DrillReport(
        "postgres-partition",
        f"Postgres cut off by a TCP proxy for {scale.partition_seconds} s mid-traffic (open and "
        "new connections stall), then healed with every stalled connection reset",
    )
    _partition(report, scale, "postgres")
    return report


DRILLS: dict[str, Callable[[Scale], DrillReport]] = {
    "redis-restart": redis_restart,
    "db-connections-killed": db_connections_killed,
    "stream-task-killed": stream_task_killed,
    "relay-killed": relay_killed,
    "job-redelivery": job_redelivery,
    "backup-interrupted": backup_interrupted,
    "redis-partition": redis_partition,
    "postgres-partition": postgres_partition,
}

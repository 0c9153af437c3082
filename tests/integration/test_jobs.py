"""The job pipeline: SQS batches through functions.jobs.handler, and the recalculation."""

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import psycopg
import pytest
from psycopg.rows import dict_row

from ladder_dev.local_services import LambdaContext
from ladder_dev.local_worker import poll_once, sqs_event
from tests.helpers import assert_ratings_equal_replay, create_player, record_match, stored_ratings
from tests.integration.conftest import drain

pytestmark = pytest.mark.usefixtures("clean_state")


def sqs(settings):
    return boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)


def envelope(job_type: str, payload: dict | None = None, job_id=None) -> str:
    return json.dumps(
        {"type": job_type, "id": str(job_id or uuid.uuid4()), "payload": payload or {}}
    )


def test_a_poison_message_fails_alone_and_reaches_the_dlq_after_five_receives(
    jobs, settings, queues, db
):
    client = sqs(settings)
    good = [uuid.uuid4() for _ in range(3)]
    for job_id in good:
        client.send_message(
            QueueUrl=queues["LADDER_JOBS_QUEUE_URL"],
            MessageBody=envelope("cache.invalidate", job_id=job_id),
        )
    client.send_message(QueueUrl=queues["LADDER_JOBS_QUEUE_URL"], MessageBody="{not json")
    client.send_message(
        QueueUrl=queues["LADDER_JOBS_QUEUE_URL"], MessageBody=envelope("no.such.job")
    )

    first = client.receive_message(
        QueueUrl=queues["LADDER_JOBS_QUEUE_URL"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )["Messages"]
    assert len(first) == 5
    response = jobs.handler(
        sqs_event(first, "arn:aws:sqs:us-east-1:1:q", "us-east-1"), LambdaContext()
    )
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    bodies = {m["MessageId"]: m["Body"] for m in first}
    poison = sorted(bodies[i] for i in failed)
    unknown_type, not_json = poison
    assert not_json == "{not json"
    assert json.loads(unknown_type)["type"] == "no.such.job"
    statuses = db.execute("SELECT id, status FROM jobs").fetchall()
    assert {r["id"]: r["status"] for r in statuses} == {j: "succeeded" for j in good}

    # The successful ones are deleted, as the event source mapping does.
    for message in first:
        if message["MessageId"] not in failed:
            client.delete_message(
                QueueUrl=queues["LADDER_JOBS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
            )

    receives = 1
    while receives < 10:
        messages = client.receive_message(
            QueueUrl=queues["LADDER_JOBS_QUEUE_URL"],
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not messages:
            break
        receives += 1
        result = jobs.handler(
            sqs_event(messages, "arn:aws:sqs:us-east-1:1:q", "us-east-1"), LambdaContext()
        )
        assert len(result["batchItemFailures"]) == len(messages)
    assert receives == 5
    dead = client.receive_message(
        QueueUrl=queues["LADDER_JOBS_DLQ_URL"], MaxNumberOfMessages=10
    ).get("Messages", [])
    assert sorted(m["Body"] for m in dead) == poison


def test_the_same_message_delivered_twice_is_applied_once(jobs, settings, queues, db, resources):
    job_id = uuid.uuid4()
    body = envelope("elo.recalculate", {"from": None}, job_id)
    client = sqs(settings)
    for _ in range(2):
        client.send_message(QueueUrl=queues["LADDER_JOBS_QUEUE_URL"], MessageBody=body)
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    job = db.execute("SELECT status, attempts FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert job == {"status": "succeeded", "attempts": 1}
    completed = db.execute(
        "SELECT count(*) AS n FROM event_outbox WHERE type = 'recalculation.completed'"
    ).fetchone()["n"]
    assert completed == 1


def test_a_late_match_is_rated_at_once_then_replayed_in_order(api, jobs, queues, db, writer):
    ids = [create_player(api, writer, f"late_{i}")["id"] for i in range(4)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(12):
        at = (start + timedelta(hours=i + 1)).isoformat()
        assert (
            record_match(api, writer, ids[i % 4], ids[(i + 1) % 4], 1.0, played_at=at).status_code
            == 201
        )
    late = record_match(api, writer, ids[0], ids[2], 0.0, played_at=start.isoformat())
    assert late.status_code == 201
    assert late.json()["ratings"]["a"]["before"] != 1500.0  # rated at once, on current ratings
    job = db.execute("SELECT id, status, payload FROM jobs").fetchone()
    assert job["status"] == "queued"
    assert job["payload"]["from"]["seq"] == late.json()["seq"]

    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    assert db.execute("SELECT status FROM jobs").fetchone()["status"] == "succeeded"
    assert_ratings_equal_replay(db)
    # The stored match shows its ratings as replayed, not as first rated.
    replayed = api.get(f"/v1/matches/{late.json()['id']}").json()
    assert replayed["ratings"]["a"]["before"] == 1500.0


def test_voiding_a_match_recalculates_without_it(api, jobs, queues, db, writer, admin):
    ids = [create_player(api, writer, f"void_{i}")["id"] for i in range(3)]
    matches = [
        record_match(api, writer, ids[i % 3], ids[(i + 1) % 3], 1.0).json() for i in range(9)
    ]
    voided = api.post(f"/v1/matches/{matches[2]['id']}/void", headers=admin)
    assert voided.status_code == 202
    job_id = voided.json()["job_id"]
    assert api.post(f"/v1/matches/{matches[2]['id']}/void", headers=admin).status_code == 409
    assert api.post(f"/v1/matches/{uuid.uuid4()}/void", headers=admin).status_code == 404
    assert api.post(f"/v1/matches/{matches[3]['id']}/void", headers=writer).status_code == 403

    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    status = api.get(f"/v1/admin/jobs/{job_id}", headers=admin).json()
    assert status["status"] == "succeeded"
    assert status["progress"] == 1.0
    assert status["result"]["matches"] == 6  # replayed from the voided match on: 9 - 2 - 1
    assert_ratings_equal_replay(db)
    gone = api.get(f"/v1/matches/{matches[2]['id']}").json()
    assert gone["voided"] is True
    assert gone["ratings"] is None
    types = [r["type"] for r in db.execute("SELECT type FROM event_outbox ORDER BY id")]
    assert "match.voided" in types
    assert types[-2:] == ["recalculation.completed", "leaderboard.changed"]


def test_a_full_recalculation_over_in_order_matches_changes_nothing(resources, db, client, writer):
    from ladder.ratings.recalculation import recalculate

    ids = [create_player(client, writer, f"order_{i}")["id"] for i in range(6)]
    for i in range(60):
        record_match(client, writer, ids[i % 6], ids[(i * 5 + 1) % 6], [0.0, 0.5, 1.0][i % 3])
    before = stored_ratings(db)
    history_before = db.execute(
        "SELECT player_id, match_id, rating_before, rating_after FROM rating_history"
        " ORDER BY seq, player_id"
    ).fetchall()
    job_id = uuid.uuid4()
    db.execute("INSERT INTO jobs (id, type) VALUES (%s, 'elo.recalculate')", (job_id,))
    result = recalculate(resources.db, ladder_id=1, job_id=job_id, start=None)
    assert result["players_changed"] == 0
    after = stored_ratings(db)
    for player, (rating, games) in before.items():
        assert abs(after[player][0] - rating) < 1e-9
        assert after[player][1] == games
    history_after = db.execute(
        "SELECT player_id, match_id, rating_before, rating_after FROM rating_history"
        " ORDER BY seq, player_id"
    ).fetchall()
    assert history_after == history_before


def test_writes_during_a_recalculation_are_not_lost(resources, db, client, writer):
    """Writes between the replay's snapshot and its commit: one committed before the apply
    (replayed on top), the rest racing the apply (they wait for its lock, then rate on the
    new ratings). Every one is stored and counted, and ratings equal a replay."""
    from ladder.ratings.recalculation import recalculate

    ids = [create_player(client, writer, f"busy_{i}")["id"] for i in range(8)]
    for i in range(400):
        record_match(client, writer, ids[i % 8], ids[(i * 3 + 1) % 8], [0.0, 0.5, 1.0][i % 3])
    job_id = uuid.uuid4()
    db.execute(
        "INSERT INTO jobs (id, type, status) VALUES (%s, 'elo.recalculate', 'running')", (job_id,)
    )
    statuses: list[int] = []

    def write(i: int) -> None:
        statuses.append(record_match(client, writer, ids[i % 8], ids[(i + 3) % 8], 1.0).status_code)

    racing = threading.Thread(target=lambda: [write(i) for i in range(1, 40)])

    def between_snapshot_and_apply(fraction: float) -> None:
        if fraction == 0.6:
            write(0)  # committed after the snapshot, before the apply
            racing.start()  # these race the apply's lock

    result = recalculate(
        resources.db,
        ladder_id=1,
        job_id=job_id,
        start=None,
        progress=between_snapshot_and_apply,
    )
    racing.join()
    assert statuses == [201] * 40
    assert result["matches"] >= 401  # the write before the apply was replayed on top
    assert db.execute("SELECT count(*) AS n FROM matches").fetchone()["n"] == 440
    assert_ratings_equal_replay(db)


def test_an_apply_retried_on_a_new_connection_writes_its_late_tail_once(
    resources, db, client, writer, database_url, monkeypatch
):
    """The connection dies in the apply after a late match was replayed on top (a
    failover): `db.run` runs the apply again with the same replay, which must not hold
    the first attempt's tail (its entries would be written twice)."""
    from ladder.ratings import recalculation

    ids = [create_player(client, writer, f"retry_{i}")["id"] for i in range(4)]
    for i in range(20):
        record_match(client, writer, ids[i % 4], ids[(i + 1) % 4], [0.0, 0.5, 1.0][i % 3])
    job_id = uuid.uuid4()
    db.execute(
        "INSERT INTO jobs (id, type, status) VALUES (%s, 'elo.recalculate', 'running')", (job_id,)
    )
    attempts: list[int] = []
    write_history = recalculation.write_history

    def dying_on_the_first_attempt(conn, lines, no_match=()):
        attempts.append(len(lines))
        if len(attempts) == 1:
            with psycopg.connect(database_url, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        return write_history(conn, lines, no_match)

    monkeypatch.setattr(recalculation, "write_history", dying_on_the_first_attempt)

    def late_match(fraction: float) -> None:
        if fraction == 0.6:  # after the snapshot: the apply replays it on top
            assert record_match(client, writer, ids[0], ids[2], 0.0).status_code == 201

    result = recalculation.recalculate(
        resources.db, ladder_id=1, job_id=job_id, start=None, progress=late_match
    )
    assert attempts == [42, 42]  # 21 matches, two entries each, in both attempts
    assert result["matches"] == 21
    assert result["history_rows"] == 42
    assert_ratings_equal_replay(db)


def test_a_match_committed_after_the_snapshot_below_its_watermark_is_not_lost(
    resources, db, client, writer, database_url
):
    """Seqs are taken before commit: a match can commit after the replay's snapshot with a
    seq below the highest one the snapshot saw. The apply must notice and include it."""
    from ladder.ladders import find_ladder
    from ladder.matches import MatchReport, _rate_and_store
    from ladder.ratings.recalculation import recalculate

    ids = [create_player(client, writer, f"gap_{i}")["id"] for i in range(4)]
    with psycopg.connect(database_url, row_factory=dict_row) as pending:
        # Takes seq N and holds it uncommitted, as a slow API request would.
        report = MatchReport(player_a=ids[0], player_b=ids[1], score_a=1.0, played_at=None)
        _rate_and_store(pending, find_ladder(pending, "default"), report, timedelta(minutes=5))
        for _ in range(3):  # seqs above N, committed: the snapshot's watermark passes N
            assert record_match(client, writer, ids[2], ids[3], 1.0).status_code == 201
        job_id = uuid.uuid4()
        db.execute("INSERT INTO jobs (id, type) VALUES (%s, 'elo.recalculate')", (job_id,))

        def commit_between_read_and_apply(fraction: float) -> None:
            if fraction == 0.6:
                pending.commit()

        recalculate(
            resources.db,
            ladder_id=1,
            job_id=job_id,
            start=None,
            progress=commit_between_read_and_apply,
        )
    assert db.execute("SELECT count(*) AS n FROM matches").fetchone()["n"] == 4
    assert_ratings_equal_replay(db)


def test_a_second_recalculation_waits_for_the_first_without_failing(
    jobs, settings, queues, db, resources
):
    from ladder.jobs.dispatch import dispatch_pending
    from ladder.jobs.store import take_lease

    running, waiting = uuid.uuid4(), uuid.uuid4()
    db.execute(
        "INSERT INTO jobs (id, type, status) VALUES (%s, 'elo.recalculate', 'running')",
        (running,),
    )
    take_lease(resources.db, running)  # a recalculation in progress elsewhere
    client = sqs(settings)
    queue = queues["LADDER_JOBS_QUEUE_URL"]
    client.send_message(QueueUrl=queue, MessageBody=envelope("elo.recalculate", job_id=waiting))
    received, failed = poll_once(client, queue, jobs.handler, wait_seconds=0)
    assert (received, failed) == (1, 0)  # consumed, not failed: no step towards the DLQ
    job = db.execute("SELECT status, error, dispatched_at FROM jobs WHERE id = %s", (waiting,))
    job = job.fetchone()
    assert job["status"] == "queued"
    assert job["dispatched_at"] is None  # the sweeper sends it again
    assert job["error"].startswith(f"waiting: recalculation {running} is running")

    # The first one's worker died; redelivered, it takes its own lease back at once.
    client.send_message(QueueUrl=queue, MessageBody=envelope("elo.recalculate", job_id=running))
    drain(jobs, queue)
    assert (
        db.execute("SELECT status FROM jobs WHERE id = %s", (running,)).fetchone()["status"]
        == "succeeded"
    )
    db.execute("UPDATE jobs SET created_at = now() - interval '1 minute' WHERE id = %s", (waiting,))
    this_queue = settings.model_copy(update={"jobs_queue_url": queue})
    assert dispatch_pending(resources.db, this_queue) == 1  # the sweeper's backstop
    drain(jobs, queue)
    assert (
        db.execute("SELECT status FROM jobs WHERE id = %s", (waiting,)).fetchone()["status"]
        == "succeeded"
    )


def test_recalculation_requests_and_job_status_need_admin(api, writer, admin):
    assert api.post("/v1/admin/recalculations", headers=writer).status_code == 403
    assert api.post("/v1/admin/recalculations").status_code == 401
    job = api.post(
        "/v1/admin/recalculations", json={"from_played_at": "2026-01-01T00:00:00Z"}, headers=admin
    )
    assert job.status_code == 202
    again = api.post("/v1/admin/recalculations", headers=admin).json()
    assert again["job_id"] == job.json()["job_id"]  # a waiting recalculation absorbs the request
    status = api.get(f"/v1/admin/jobs/{again['job_id']}", headers=admin).json()
    assert status["status"] == "queued"
    assert api.get(f"/v1/admin/jobs/{uuid.uuid4()}", headers=admin).status_code == 404


def test_queue_stats_and_redrive(api, jobs, settings, queues, admin):
    client = sqs(settings)
    for _ in range(3):
        client.send_message(
            QueueUrl=queues["LADDER_JOBS_DLQ_URL"], MessageBody=envelope("cache.invalidate")
        )
    client.send_message(
        QueueUrl=queues["LADDER_JOBS_QUEUE_URL"], MessageBody=envelope("cache.invalidate")
    )
    stats = api.get("/v1/admin/queues", headers=admin).json()
    assert stats["next_cursor"] is None
    (jobs_queue,) = stats["items"]
    assert (jobs_queue["name"], jobs_queue["visible"], jobs_queue["dlq_depth"]) == ("jobs", 1, 3)
    assert api.post("/v1/admin/queues/nope/redrive", headers=admin).status_code == 404
    moved = api.post("/v1/admin/queues/jobs/redrive", headers=admin).json()
    assert moved == {"moved": 3}
    after = api.get("/v1/admin/queues", headers=admin).json()["items"][0]
    assert (after["visible"], after["dlq_depth"]) == (4, 0)


def test_changed_rating_rules_schedule_a_full_recalculation(resources, db, client, writer):
    from dataclasses import replace

    from ladder.ratings.rules import sync_rating_rules

    assert sync_rating_rules(resources.db, resources.rules) is None  # a new installation
    a, b = (
        create_player(client, writer, "rules_a")["id"],
        create_player(client, writer, "rules_b")["id"],
    )
    record_match(client, writer, a, b, 1.0)
    assert sync_rating_rules(resources.db, resources.rules) is None  # unchanged
    job_id = sync_rating_rules(resources.db, replace(resources.rules, k_provisional=32.0))
    job = db.execute("SELECT type, payload FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert job == {"type": "elo.recalculate", "payload": {"ladder": 1, "from": None}}
    rules = db.execute("SELECT rules FROM ladders WHERE slug = 'default'").fetchone()["rules"]
    assert rules["k_provisional"] == 32.0


def test_a_failed_recalculation_frees_the_lease_for_the_next(resources, db):
    from ladder.jobs.store import take_lease
    from ladder.ratings.recalculation import recalculate

    failing, next_one = uuid.uuid4(), uuid.uuid4()

    def fail(fraction: float) -> None:
        if fraction == 0.6:
            raise RuntimeError("the worker failed mid-run")

    with pytest.raises(RuntimeError, match="mid-run"):
        recalculate(resources.db, ladder_id=1, job_id=failing, start=None, progress=fail)
    take_lease(resources.db, next_one)  # at once, not when the failed run's lease lapses
    holder = db.execute("SELECT holder FROM job_locks").fetchone()["holder"]
    assert holder == next_one


def test_a_void_and_a_missed_match_in_the_same_window_cannot_cancel_out(
    resources, db, client, writer, database_url
):
    """A count of the range would match (one voided, one missed): the digest does not."""
    from ladder.ladders import find_ladder
    from ladder.matches import MatchReport, _rate_and_store, void_match
    from ladder.ratings.recalculation import Point, recalculate

    ids = [create_player(client, writer, f"cancel_{i}")["id"] for i in range(4)]
    skew = timedelta(minutes=5)
    with psycopg.connect(database_url, row_factory=dict_row) as pending:
        (missed, _, _), _ = _rate_and_store(
            pending,
            find_ladder(pending, "default"),
            MatchReport(player_a=ids[2], player_b=ids[3], score_a=1.0, played_at=None),
            skew,
        )
        voided = record_match(client, writer, ids[0], ids[1], 1.0).json()
        job_id, follow_up = uuid.uuid4(), {}
        db.execute(  # running, as the worker's claim leaves it: the void schedules its own
            "INSERT INTO jobs (id, type, status) VALUES (%s, 'elo.recalculate', 'running')",
            (job_id,),
        )

        def between_read_and_apply(fraction: float) -> None:
            if fraction == 0.6:
                pending.commit()  # the lower seq commits after the snapshot...
                follow_up["job"] = resources.db.run(  # ...and a void
                    lambda conn: void_match(conn, uuid.UUID(voided["id"]))
                )

        recalculate(
            resources.db,
            ladder_id=1,
            job_id=job_id,
            start=None,
            progress=between_read_and_apply,
        )
    job = db.execute("SELECT payload FROM jobs WHERE id = %s", (follow_up["job"],)).fetchone()
    assert job["payload"]["from"]["seq"] == voided["seq"]  # from the void, after the missed one
    recalculate(
        resources.db,
        ladder_id=1,
        job_id=follow_up["job"],
        start=Point.from_payload(job["payload"]["from"]),
    )
    assert missed.seq < voided["seq"]
    assert_ratings_equal_replay(db)


def test_a_match_before_the_start_recorded_during_a_recalculation_keeps_its_rating(
    resources, db, client, writer
):
    """Its players have no match in the recalculated range, so it is not late for them and
    schedules nothing; the recalculation must not overwrite them from its snapshot."""
    from ladder.ratings.recalculation import Point, recalculate

    ids = [create_player(client, writer, f"before_{i}")["id"] for i in range(4)]
    now = datetime.now(UTC)
    first = record_match(
        client, writer, ids[0], ids[1], 1.0, played_at=(now - timedelta(hours=1)).isoformat()
    ).json()
    job_id = uuid.uuid4()
    db.execute("INSERT INTO jobs (id, type) VALUES (%s, 'elo.recalculate')", (job_id,))

    def between_read_and_apply(fraction: float) -> None:
        if fraction == 0.6:
            older = (now - timedelta(hours=2)).isoformat()
            assert (
                record_match(client, writer, ids[2], ids[3], 1.0, played_at=older).status_code
                == 201
            )

    start = Point(datetime.fromisoformat(first["played_at"]), first["seq"])
    recalculate(
        resources.db, ladder_id=1, job_id=job_id, start=start, progress=between_read_and_apply
    )
    assert db.execute("SELECT count(*) AS n FROM jobs WHERE status = 'queued'").fetchone()["n"] == 0
    assert_ratings_equal_replay(db)


def test_a_match_before_the_start_then_one_in_the_tail_rates_from_the_first(
    resources, db, client, writer
):
    """During the window between the snapshot and the apply, C plays a match before the
    start (not late: C has no later match), then one after it (in the tail). The tail
    must rate C from that first match, not from the snapshot's standing."""
    from ladder.ratings.recalculation import Point, recalculate

    a, b, c, e, f = (create_player(client, writer, f"tail_{i}")["id"] for i in range(5))
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    at = lambda hour, minute=0: (day + timedelta(hours=hour, minutes=minute)).isoformat()  # noqa: E731
    record_match(client, writer, a, b, 1.0, played_at=at(-14))
    record_match(client, writer, a, b, 1.0, played_at=at(-12))
    late = record_match(client, writer, a, b, 0.0, played_at=at(-13)).json()
    job_id = uuid.uuid4()
    db.execute("INSERT INTO jobs (id, type) VALUES (%s, 'elo.recalculate')", (job_id,))

    def between_read_and_apply(fraction: float) -> None:
        if fraction == 0.6:
            assert record_match(client, writer, c, e, 1.0, played_at=at(-14, 30)).status_code == 201
            assert record_match(client, writer, c, f, 1.0).status_code == 201

    start = Point(datetime.fromisoformat(late["played_at"]), late["seq"])
    recalculate(
        resources.db, ladder_id=1, job_id=job_id, start=start, progress=between_read_and_apply
    )
    assert_ratings_equal_replay(db)


def test_a_job_whose_worker_vanished_is_marked_failed(resources, db):
    from ladder.jobs.store import fail_abandoned

    lost, alive = uuid.uuid4(), uuid.uuid4()
    db.execute(
        "INSERT INTO jobs (id, type, status, started_at) VALUES"
        " (%s, 'elo.recalculate', 'running', now() - interval '20 minutes'),"
        " (%s, 'elo.recalculate', 'running', now() - interval '1 minute')",
        (lost, alive),
    )
    assert fail_abandoned(resources.db) == 1
    rows = {r["id"]: r for r in db.execute("SELECT id, status, error FROM jobs").fetchall()}
    assert rows[lost]["status"] == "failed"
    assert rows[lost]["error"].startswith("abandoned")
    assert rows[alive]["status"] == "running"

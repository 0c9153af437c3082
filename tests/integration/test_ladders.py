"""Ladders: independent rating pools with their own rules, fed through the API."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from tests.helpers import (
    assert_ratings_equal_replay,
    create_player,
    record_match,
    replay_of,
    stored_ratings,
)
from tests.integration.conftest import drain

# A ladder whose rules differ from the default's in every parameter, with a tight
# rating gap cap so that the cap decides many expected scores.
BLITZ_RULES = {
    "initial": 1200.0,
    "provisional_games": 4,
    "k_provisional": 64.0,
    "k_established": 24.0,
    "master_threshold": 1300.0,
    "k_master": 12.0,
    "max_rating_gap": 100.0,
}


def create_ladder(client, admin, slug: str, **extra) -> dict:
    response = client.post(
        "/v1/ladders", json={"slug": slug, "name": slug.title(), **extra}, headers=admin
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_two_ladders_fed_interleaved_each_equal_a_replay_with_their_own_rules(
    api, jobs, queues, db, writer, admin
):
    create_ladder(api, admin, "blitz", rules=BLITZ_RULES)
    ids = [create_player(api, writer, f"pool_{i}")["id"] for i in range(8)]
    rng = random.Random(14)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(160):
        a, b = rng.sample(ids, 2)
        ladder = "blitz" if i % 2 else "default"
        # Every tenth match is played before the ones already rated: late, in its ladder.
        hours = i - 30 if i % 10 == 9 else i
        at = (start + timedelta(hours=hours)).isoformat()
        response = record_match(
            api, writer, a, b, rng.choice([0.0, 0.5, 1.0]), played_at=at, ladder=ladder
        )
        assert response.status_code == 201, response.text
        assert response.json()["ladder"] == ladder
        if i % 40 == 39:
            drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    assert {r["status"] for r in db.execute("SELECT status FROM jobs")} == {"succeeded"}

    assert_ratings_equal_replay(db, "default")
    assert_ratings_equal_replay(db, "blitz", BLITZ_RULES)
    blitz = stored_ratings(db, "blitz")
    # The cap decided something: without it the same matches end elsewhere.
    uncapped = replay_of(db, "blitz", {**BLITZ_RULES, "max_rating_gap": None})
    assert max(abs(blitz[p][0] - uncapped[p][0]) for p in uncapped) > 1.0
    # A player's default-ladder rating is unmoved by their blitz games.
    player = api.get(f"/v1/players/{ids[0]}").json()
    assert (player["rating"], player["games"]) == stored_ratings(db, "default")[ids[0]]


def test_new_rules_recalculate_the_ladder_and_only_it(api, jobs, queues, db, writer, admin):
    create_ladder(api, admin, "duo")
    ids = [create_player(api, writer, f"duo_{i}")["id"] for i in range(4)]
    for i in range(12):
        for ladder in ("duo", "default"):
            record_match(api, writer, ids[i % 4], ids[(i + 1) % 4], 1.0, ladder=ladder)
    default_before = stored_ratings(db, "default")
    changed = api.patch(
        "/v1/ladders/duo",
        json={"rules": {"k_provisional": 25.0, "max_rating_gap": 400}},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["rules"]["k_provisional"] == 25.0
    assert body["rules"]["k_established"] == 20.0  # unnamed parameters stay
    assert body["recalculation_job_id"]
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    job = api.get(f"/v1/admin/jobs/{body['recalculation_job_id']}", headers=admin).json()
    assert job["status"] == "succeeded"
    assert job["result"]["ladder"] == "duo"
    assert_ratings_equal_replay(db, "duo", {"k_provisional": 25.0, "max_rating_gap": 400})
    assert stored_ratings(db, "default") == default_before
    # A change without new rules schedules nothing.
    renamed = api.patch("/v1/ladders/duo", json={"name": "Duo queue"}, headers=admin).json()
    assert renamed["name"] == "Duo queue"
    assert renamed["recalculation_job_id"] is None


def test_ladders_are_created_listed_and_changed_by_admins_only(client, writer, admin):
    assert (
        client.post("/v1/ladders", json={"slug": "x1", "name": "X"}, headers=writer).status_code
        == 403
    )
    created = create_ladder(client, admin, "ranked-solo", board={"min_games": 3})
    assert created["rules"]["initial"] == 1500.0
    assert created["board"] == {"min_games": 3, "inactive_after_days": None}
    assert created["current_season"] is None
    taken = client.post("/v1/ladders", json={"slug": "ranked-solo", "name": "Again"}, headers=admin)
    assert taken.status_code == 409
    assert taken.headers["content-type"] == "application/problem+json"
    for bad in (
        {"slug": "Solo", "name": "x"},
        {"slug": "9lives", "name": "x"},
        {"slug": "a", "name": "x"},
        {"slug": "ok-slug", "name": ""},
        {"slug": "ok-slug", "name": "x", "rules": {"k_master": 0}},
        {"slug": "ok-slug", "name": "x", "rules": {"bogus": 1}},
        {"slug": "ok-slug", "name": "x", "rules": {"max_rating_gap": -5}},
        {"slug": "ok-slug", "name": "x", "board": {"min_games": 0}},
        {"slug": "ok-slug", "name": "x", "board": {"min_games": True}},
        {"slug": "ok-slug", "name": "x", "rules": {"initial": "1500"}},
        {"slug": "ok-slug", "name": "x", "rules": {"provisional_games": 2.5}},
        {"slug": "ok-slug", "name": "x", "seasons": {"every": "P7D"}},
    ):
        response = client.post("/v1/ladders", json=bad, headers=admin)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
    deep = '{"a": ' * 300 + "1" + "}" * 300
    for raw in (
        b'{"slug": "ok-slug", "name": "x", "rules": {"\\ud800": 1}}',  # a lone surrogate
        ('{"slug": "ok-slug", "name": "x", "rules": {"x": ' + deep + "}}").encode(),
    ):
        response = client.post(
            "/v1/ladders", content=raw, headers={**admin, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
    overflow = client.post(  # JSON's 1e999 parses as infinity
        "/v1/ladders",
        content=b'{"slug": "ok-slug", "name": "x", "rules": {"k_master": 1e999}}',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert overflow.status_code == 422, overflow.text
    for i in range(3):
        create_ladder(client, admin, f"queue-{i}")
    first = client.get("/v1/ladders?limit=2").json()
    assert [ladder["slug"] for ladder in first["items"]] == ["default", "queue-0"]
    rest = client.get(f"/v1/ladders?limit=10&cursor={first['next_cursor']}").json()
    assert [ladder["slug"] for ladder in rest["items"]] == ["queue-1", "queue-2", "ranked-solo"]
    assert rest["next_cursor"] is None
    assert client.get("/v1/ladders/ranked-solo").json()["board"]["min_games"] == 3
    assert client.get("/v1/ladders/nope").status_code == 404
    assert client.patch("/v1/ladders/nope", json={"name": "n"}, headers=admin).status_code == 404
    assert (
        client.patch("/v1/ladders/queue-0", json={"name": "n"}, headers=writer).status_code == 403
    )
    assert client.patch("/v1/ladders/queue-0", json={"slug": "q"}, headers=admin).status_code == 422


def test_a_match_in_an_unknown_ladder_is_a_422_and_records_nothing(client, writer, db):
    a, b = (create_player(client, writer, h)["id"] for h in ("nol_a", "nol_b"))
    for ladder in ("nope", "Bad Slug"):
        response = record_match(client, writer, a, b, 1.0, ladder=ladder)
        assert response.status_code == 422, ladder
    assert db.execute("SELECT count(*) AS n FROM matches").fetchone()["n"] == 0
    assert db.execute("SELECT count(*) AS n FROM standings").fetchone()["n"] == 0


def test_each_ladder_has_its_own_board_history_and_events(client, writer, admin, db):
    create_ladder(client, admin, "arena", board={"min_games": 2})
    a, b, c = (create_player(client, writer, h)["id"] for h in ("arn_a", "arn_b", "arn_c"))
    record_match(client, writer, a, b, 1.0, ladder="arena")
    record_match(client, writer, a, c, 1.0, ladder="arena")
    record_match(client, writer, b, c, 1.0)  # default
    board = client.get("/v1/ladders/arena/leaderboard").json()
    assert [e["handle"] for e in board["items"]] == ["arn_a"]  # b and c have one game there
    default_board = client.get("/v1/leaderboard").json()
    assert [e["handle"] for e in default_board["items"]] == ["arn_b", "arn_c"]
    assert client.get("/v1/ladders/default/leaderboard").json() == default_board
    assert client.get("/v1/ladders/nope/leaderboard").status_code == 404
    # Board policy changes who is ranked at once (the cached page is dropped).
    assert (
        client.patch(
            "/v1/ladders/arena", json={"board": {"min_games": 1}}, headers=admin
        ).status_code
        == 200
    )
    assert len(client.get("/v1/ladders/arena/leaderboard").json()["items"]) == 3

    history = client.get(f"/v1/ladders/arena/players/{a}/ratings").json()["items"]
    assert len(history) == 2
    assert client.get(f"/v1/players/{a}/ratings").json()["items"] == []
    assert len(client.get(f"/v1/ladders/arena/players/{a}/matches").json()["items"]) == 2
    assert len(client.get(f"/v1/players/{b}/matches").json()["items"]) == 1
    assert client.get(f"/v1/ladders/nope/players/{a}/matches").status_code == 404

    events = db.execute(
        "SELECT type, topics, payload FROM event_outbox WHERE type IN"
        " ('match.recorded', 'leaderboard.changed', 'ladder.created', 'ladder.updated') ORDER BY id"
    ).fetchall()
    assert events[0]["type"] == "ladder.created"
    assert events[0]["topics"] == ["ladder:arena"]
    arena_match, arena_board = events[1], events[2]
    assert arena_match["topics"][:2] == ["matches", "ladder:arena"]
    assert arena_match["payload"]["ladder"] == "arena"
    assert arena_board["payload"]["ladder"] == "arena"
    assert "leaderboard" not in arena_board["topics"]  # the default ladder's topic
    default_board_event = events[6]
    assert default_board_event["type"] == "leaderboard.changed"
    assert default_board_event["topics"][:2] == ["leaderboard", "ladder:default"]
    assert events[-1]["type"] == "ladder.updated"


def test_a_void_in_one_ladder_recalculates_that_ladder(api, jobs, queues, db, writer, admin):
    create_ladder(api, admin, "cup", rules={"initial": 1000.0})
    ids = [create_player(api, writer, f"cup_{i}")["id"] for i in range(3)]
    matches = [
        record_match(api, writer, ids[i % 3], ids[(i + 1) % 3], 1.0, ladder="cup").json()
        for i in range(6)
    ]
    for i in range(6):
        record_match(api, writer, ids[i % 3], ids[(i + 2) % 3], 0.5)
    default_before = stored_ratings(db, "default")
    voided = api.post(f"/v1/matches/{matches[1]['id']}/void", headers=admin)
    assert voided.status_code == 202
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    assert_ratings_equal_replay(db, "cup", {"initial": 1000.0})
    assert stored_ratings(db, "default") == default_before
    voided_event = db.execute(
        "SELECT topics, payload FROM event_outbox WHERE type = 'match.voided'"
    ).fetchone()
    assert voided_event["payload"]["ladder"] == "cup"
    assert "ladder:cup" in voided_event["topics"]


def test_recalculating_one_ladder_through_the_api(api, jobs, queues, db, writer, admin):
    create_ladder(api, admin, "solo")
    missing = api.post("/v1/admin/recalculations", json={"ladder": "nope"}, headers=admin)
    assert missing.status_code == 422
    accepted = api.post("/v1/admin/recalculations", json={"ladder": "solo"}, headers=admin)
    assert accepted.status_code == 202
    job = db.execute(
        "SELECT payload FROM jobs WHERE id = %s", (uuid.UUID(accepted.json()["job_id"]),)
    ).fetchone()
    assert (
        job["payload"]["ladder"]
        == db.execute("SELECT id FROM ladders WHERE slug = 'solo'").fetchone()["id"]
    )


def test_board_policy_decides_who_is_ranked_never_a_rating(api, jobs, queues, db, writer, admin):
    create_ladder(
        api,
        admin,
        "club",
        rules={"provisional_games": 2},
        board={"min_games": 1, "inactive_after_days": 30},
    )
    a, b, c = (create_player(api, writer, h)["id"] for h in ("club_a", "club_b", "club_c"))
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=40)
    record_match(api, writer, a, b, 1.0, ladder="club", played_at=long_ago.isoformat())
    recent = record_match(api, writer, b, c, 1.0, ladder="club", played_at=now.isoformat())
    board = api.get("/v1/ladders/club/leaderboard").json()["items"]
    assert [(e["handle"], e["provisional"]) for e in board] == [
        ("club_b", False),  # two games: no longer provisional
        ("club_c", True),
    ]
    assert [e["rank"] for e in board] == [1, 2]
    assert_ratings_equal_replay(db, "club", {"provisional_games": 2})  # a keeps a rating

    # A void moves b's last match back 40 days: after its recalculation b is inactive too.
    api.post(f"/v1/matches/{recent.json()['id']}/void", headers=admin)
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    last = {
        str(r["player_id"]): r["last_played_at"]
        for r in db.execute(
            "SELECT player_id, last_played_at FROM standings WHERE handle LIKE 'club%'"
        )
    }
    assert last == {a: long_ago, b: long_ago, c: None}
    assert api.get("/v1/ladders/club/leaderboard").json()["items"] == []
    # Without the inactivity rule both are ranked again, at once; the minimum stays.
    api.patch("/v1/ladders/club", json={"board": {"inactive_after_days": None}}, headers=admin)
    assert [e["handle"] for e in api.get("/v1/ladders/club/leaderboard").json()["items"]] == [
        "club_a",
        "club_b",
    ]
    assert api.get("/v1/ladders/club").json()["board"] == {
        "min_games": 1,
        "inactive_after_days": None,
    }
    api.patch("/v1/ladders/club", json={"board": {"min_games": 2}}, headers=admin)
    assert api.get("/v1/ladders/club").json()["board"]["min_games"] == 2


def test_concurrent_first_matches_in_a_ladder_take_locks_in_id_order(
    client, writer, admin, database_url, db
):
    """T2 (X, Y) pauses after its first statement on standings while Y's first match
    (Y, Z) runs; then T2 creates what it must and, before it locks, T1 (X, Y) starts.
    When T1 locked Y (then existing) before creating X (T2's, uncommitted), T2 waited
    for Y and T1 for X: a deadlock, answered with a 500. Every lock in id order,
    creation first, avoids it."""
    import threading
    from datetime import timedelta

    import psycopg
    from psycopg.rows import dict_row

    from ladder.matches import STANDINGS_FOR_UPDATE, MatchReport
    from ladder.matches import record_match as record

    create_ladder(client, admin, "firsts")
    x, y, z = sorted(
        uuid.UUID(create_player(client, writer, h)["id"]) for h in ("first_x", "first_y", "first_z")
    )
    t2_at_start, t2_go, t2_at_lock, t2_lock = (threading.Event() for _ in range(4))
    outcomes: dict[str, str] = {}

    class Paused:  # the connection T2 rates through, paused at two points
        def __init__(self, conn):
            self.conn, self.inserted = conn, False

        def execute(self, query, *args, **kwargs):
            if query == STANDINGS_FOR_UPDATE and self.inserted:
                t2_at_lock.set()
                t2_lock.wait(10)
            result = self.conn.execute(query, *args, **kwargs)
            self.inserted |= query.startswith("INSERT INTO standings")
            if "standings" in query and not t2_at_start.is_set():
                t2_at_start.set()
                t2_go.wait(10)
            return result

        def __getattr__(self, name):
            return getattr(self.conn, name)

    def run(name: str, a, b, wrap=lambda conn: conn) -> None:
        try:
            with psycopg.connect(database_url, row_factory=dict_row) as conn, conn.transaction():
                report = MatchReport(player_a=a, player_b=b, score_a=1.0, ladder="firsts")
                record(wrap(conn), report, timedelta(minutes=5))
            outcomes[name] = "ok"
        except psycopg.Error as exc:
            outcomes[name] = type(exc).__name__

    def until_waiting_or_done(thread: threading.Thread) -> None:
        for _ in range(200):
            waiting = db.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            ).fetchone()["n"]
            if waiting or not thread.is_alive():
                return
            threading.Event().wait(0.05)

    t2 = threading.Thread(target=run, args=("t2", x, y, Paused))
    t2.start()
    assert t2_at_start.wait(10)
    t3 = threading.Thread(target=run, args=("t3", y, z))  # Y's first match in the ladder
    t3.start()
    until_waiting_or_done(t3)
    t2_go.set()
    assert t2_at_lock.wait(10)
    t1 = threading.Thread(target=run, args=("t1", x, y))
    t1.start()
    until_waiting_or_done(t1)
    t2_lock.set()
    for thread in (t1, t2, t3):
        thread.join(20)
    assert outcomes == {"t1": "ok", "t2": "ok", "t3": "ok"}
    assert_ratings_equal_replay(db, "firsts")

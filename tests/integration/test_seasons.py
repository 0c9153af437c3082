"""Seasons: soft resets in rating order, closes that freeze final standings, and
closed seasons that accept nothing more, checked against an independent replay."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ladder import commands
from tests.helpers import assert_ratings_equal_replay, create_player, record_match, replay_of
from tests.integration.conftest import drain
from tests.integration.test_ladders import create_ladder

DAY = timedelta(days=1)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ladder_id(db, slug: str) -> int:
    return db.execute("SELECT id FROM ladders WHERE slug = %s", (slug,)).fetchone()["id"]


def board_of(state: dict, handles: dict, min_games: int) -> list[str]:
    ranked = [p for p, (_, games) in state.items() if games >= min_games]
    return sorted(ranked, key=lambda p: (-state[p][0], -state[p][1], handles[p]))


def test_weekly_seasons_with_a_soft_reset_equal_a_replay_across_three_boundaries(
    api, jobs, queues, db, writer, admin
):
    now = datetime.now(UTC).replace(microsecond=0)
    anchor = now - 22 * DAY  # seasons 1-3 are over, 4 is under way
    # A grace long enough that seasons 1-3 still take late matches by the clock: each
    # is closed here by running the close as of its closing instant.
    grace = 16 * 86400
    create_ladder(
        api,
        admin,
        "weekly",
        board={"min_games": 2},
        seasons={
            "every": "P7D",
            "anchor": iso(anchor),
            "grace_seconds": grace,
            "reset": "soft",
            "factor": 0.5,
        },
    )
    lid = ladder_id(db, "weekly")
    starts = [anchor + 7 * DAY * k for k in range(4)]
    ends = [*starts[1:], starts[3] + 7 * DAY]
    players = [create_player(api, writer, f"season_{i}") for i in range(10)]
    ids = [p["id"] for p in players]
    handles = {p["id"]: p["handle"] for p in players}
    rng = random.Random(7)
    recorded: dict[int, list[str]] = {n: [] for n in range(1, 5)}

    def play(season: int, count: int) -> None:
        first = starts[season - 1]
        last = min(ends[season - 1], now - timedelta(minutes=5))
        for _ in range(count):
            at = first + (last - first) * rng.random()
            if rng.random() < 0.1:
                at = first  # on the boundary itself: after the reset
            a, b = rng.sample(ids, 2)
            response = record_match(
                api, writer, a, b, rng.choice([0.0, 0.5, 1.0]), played_at=iso(at), ladder="weekly"
            )
            assert response.status_code == 201, response.text
            recorded[season].append(response.json()["id"])

    def settle() -> None:
        commands.tick_seasons(jobs.resources)
        drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])

    def close_as_of(season: int) -> None:
        settle()
        closes_at = ends[season - 1] + timedelta(seconds=grace)
        closed = commands.close_seasons(jobs.resources, lid, now=closes_at)
        assert closed, closed
        assert closed[-1] == season, closed

    play(1, 30)
    play(2, 30)
    play(1, 10)  # late, inside season 1's grace: before season 2's reset
    settle()
    close_as_of(1)
    play(2, 15)  # late into season 2, after season 3 began below
    play(3, 30)
    play(2, 10)
    settle()
    close_as_of(2)
    play(3, 10)
    play(4, 30)
    play(3, 10)
    settle()
    close_as_of(3)
    settle()
    assert {r["status"] for r in db.execute("SELECT status FROM jobs")} == {"succeeded"}

    assert_ratings_equal_replay(db, "weekly", resets=starts, factor=0.5)

    for season in (1, 2, 3):
        as_of_end = replay_of(db, "weekly", resets=starts, factor=0.5, until=ends[season - 1])
        board = board_of(as_of_end, handles, min_games=2)
        page = api.get(f"/v1/ladders/weekly/seasons/{season}/standings?limit=200").json()
        assert [item["player_id"] for item in page["items"]] == board
        for rank, item in enumerate(page["items"], start=1):
            rating, games = as_of_end[item["player_id"]]
            assert item["rank"] == rank
            assert abs(item["rating"] - rating) < 1e-9
            assert item["games"] == games
            assert item["percentile"] == 100 * (len(board) - rank) / len(board)

    # Closed seasons take nothing more.
    late = record_match(
        api, writer, ids[0], ids[1], 1.0, played_at=iso(starts[2] + DAY), ladder="weekly"
    )
    assert late.status_code == 422, late.text
    assert late.json()["type"].endswith("/problems/season-closed")
    voided = api.post(f"/v1/matches/{recorded[2][0]}/void", headers=admin)
    assert voided.status_code == 409, voided.text
    # The reset is in each player's history, without a match.
    history = api.get(f"/v1/ladders/weekly/players/{ids[0]}/ratings?limit=200").json()["items"]
    resets = [entry for entry in history if entry["reason"] == "season_reset"]
    assert {entry["at"] for entry in resets} <= {iso(s) for s in starts}
    assert len(resets) >= 2
    assert all(entry["match_id"] is None for entry in resets)

    # A full recalculation now starts at the open season and changes nothing.
    job = api.post("/v1/admin/recalculations", json={"ladder": "weekly"}, headers=admin)
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    result = api.get(f"/v1/admin/jobs/{job.json()['job_id']}", headers=admin).json()["result"]
    assert result["from"]["played_at"].startswith(iso(starts[3])[:19])
    assert result["matches"] == len(recorded[4])
    assert result["players_changed"] == 0

    listed = api.get("/v1/ladders/weekly/seasons").json()["items"]
    assert [(s["number"], s["closed"], s["frozen"]) for s in listed] == [
        (4, False, False),
        (3, True, True),
        (2, True, True),
        (1, True, True),
        (0, True, True),
    ]
    ladder = api.get("/v1/ladders/weekly").json()
    assert ladder["current_season"]["number"] == 4
    assert api.get("/v1/ladders/weekly/seasons/4/standings").status_code == 404
    fixed = api.patch("/v1/ladders/weekly", json={"seasons": None}, headers=admin)
    assert fixed.status_code == 409


def test_the_schedule_closes_due_seasons_through_the_job_queue_once(
    api, jobs, queues, db, writer, admin
):
    now = datetime.now(UTC)
    anchor = now - timedelta(minutes=3, seconds=5)
    create_ladder(
        api,
        admin,
        "minutely",
        seasons={"every": "PT1M", "anchor": iso(anchor), "grace_seconds": 0},
    )
    a, b = (create_player(api, writer, f"minute_{i}")["id"] for i in range(2))
    for minutes in (2.9, 2.5, 0.05):
        at = iso(now - timedelta(minutes=minutes))
        assert record_match(
            api, writer, a, b, 1.0, played_at=at, ladder="minutely"
        ).status_code == (201 if minutes < 0.1 else 422)
    first = commands.tick_seasons(jobs.resources)
    again = commands.tick_seasons(jobs.resources)  # a close already queued is not queued twice
    assert len(first) == 1
    assert again == []
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    closed = db.execute(
        "SELECT number FROM seasons WHERE ladder_id = %s ORDER BY number",
        (ladder_id(db, "minutely"),),
    ).fetchall()
    assert [row["number"] for row in closed] == [0, 1, 2, 3]
    events = db.execute(
        "SELECT payload FROM event_outbox WHERE type = 'season.closed' ORDER BY id"
    ).fetchall()
    assert [e["payload"]["season"] for e in events] == [0, 1, 2, 3]
    assert (
        "ladder:minutely"
        in db.execute(
            "SELECT topics FROM event_outbox WHERE type = 'season.closed' LIMIT 1"
        ).fetchone()["topics"]
    )
    # Run again, the close leaves what it froze as it was (season 4 may close meanwhile).
    frozen = "SELECT * FROM seasons WHERE number < 4 ORDER BY number"
    before = db.execute(frozen).fetchall()
    assert len(before) == 4
    assert commands.close_seasons(jobs.resources, ladder_id(db, "minutely")) in ([], [4])
    assert db.execute(frozen).fetchall() == before


def soft_ladder(api, admin, slug: str, anchor: datetime, **extra) -> None:
    seasons = {"every": "P7D", "anchor": iso(anchor), "reset": "soft", "factor": 0.5, **extra}
    create_ladder(api, admin, slug, seasons=seasons)


def test_a_reset_missed_before_a_later_season_is_written_with_it(
    api, jobs, queues, db, writer, admin
):
    # Found by review: a match in season 2 started its recalculation at season 2's
    # start, and the anchor's reset (season 1's) was never written.
    now = datetime.now(UTC).replace(microsecond=0)
    anchor = now - 8 * DAY
    soft_ladder(api, admin, "missed", anchor, grace_seconds=30 * 86400)
    ids = [create_player(api, writer, f"missed_{i}")["id"] for i in range(3)]
    for i in range(3):  # season 0, before the anchor
        at = iso(anchor - DAY + timedelta(hours=i))
        assert (
            record_match(
                api, writer, ids[i], ids[(i + 1) % 3], 1.0, played_at=at, ladder="missed"
            ).status_code
            == 201
        )
    assert record_match(api, writer, ids[0], ids[2], 0.5, ladder="missed").status_code == 201
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    commands.tick_seasons(jobs.resources)
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    assert_ratings_equal_replay(db, "missed", resets=[anchor, anchor + 7 * DAY], factor=0.5)


def test_importing_into_a_closed_season_is_rejected_naming_the_line(api, jobs, db, writer, admin):
    import io

    from ladder.errors import ImportRejected

    now = datetime.now(UTC).replace(microsecond=0)
    anchor = now - 10 * DAY
    create_ladder(
        api, admin, "imported", seasons={"every": "P7D", "anchor": iso(anchor), "grace_seconds": 0}
    )
    assert commands.close_seasons(jobs.resources, ladder_id(db, "imported")) == [0, 1]
    csv = (
        "played_at,player_a,player_b,score_a\n"
        f"{iso(now - DAY)},imp_a,imp_b,1\n"
        f"{iso(anchor + DAY)},imp_a,imp_b,0\n"
    )
    with pytest.raises(ImportRejected, match=r"^line 3: .* season 1 of ladder 'imported'"):
        commands.import_matches(jobs.resources, io.BytesIO(csv.encode()), "imported")
    assert db.execute("SELECT count(*) AS n FROM matches").fetchone()["n"] == 0


def test_seasons_at_the_edges_of_the_calendar_answer_4xx_never_5xx(api, jobs, db, writer, admin):
    import base64
    import json

    far = {"every": "PT1M", "anchor": "9999-12-29T23:59:00Z", "grace_seconds": 2592000}
    create_ladder(api, admin, "far", seasons=far)
    a, b = (create_player(api, writer, f"edge_{i}")["id"] for i in range(2))
    assert record_match(api, writer, a, b, 1.0, ladder="far").status_code == 201
    assert commands.tick_seasons(jobs.resources) == []
    old = {"every": "PT1M", "anchor": "1970-01-01T00:00:00Z"}
    refused = api.post(
        "/v1/ladders", json={"slug": "old", "name": "Old", "seasons": old}, headers=admin
    )
    assert refused.status_code == 422, refused.text
    create_ladder(
        api, admin, "daily", seasons={"every": "P1D", "anchor": iso(datetime.now(UTC) - 3 * DAY)}
    )
    for number in (2**31 - 1, 3_000_000, 200_000, 5):
        raw = json.dumps({"k": "seasons", "number": number}).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        page = api.get("/v1/ladders/daily/seasons", params={"cursor": cursor})
        assert page.status_code == 200, page.text
        assert all(s["number"] <= 4 for s in page.json()["items"])
    assert api.get("/v1/ladders/daily/seasons/0/standings").status_code == 404  # not closed yet
    commands.close_seasons(jobs.resources, ladder_id(db, "daily"))
    assert api.get("/v1/ladders/daily/seasons/0/standings").status_code == 200


def test_a_frozen_board_applies_inactivity_as_of_the_season_end(api, jobs, db, writer, admin):
    now = datetime.now(UTC).replace(microsecond=0)
    anchor = now - 9 * DAY
    seasons = {"every": "P7D", "anchor": iso(anchor), "grace_seconds": 3 * 86400}
    create_ladder(api, admin, "idle", board={"inactive_after_days": 2}, seasons=seasons)
    ids = [create_player(api, writer, f"idle_{i}")["id"] for i in range(4)]
    for a, b, day in ((0, 1, 1), (2, 3, 6)):  # 0 and 1 last play 6 days before the end
        at = iso(anchor + day * DAY)
        assert (
            record_match(api, writer, ids[a], ids[b], 1.0, played_at=at, ladder="idle").status_code
            == 201
        )
    closes_at = anchor + 10 * DAY  # season 1's end + grace
    assert commands.close_seasons(jobs.resources, ladder_id(db, "idle"), now=closes_at) == [0, 1]
    ranks = {
        str(row["player_id"]): row["rank"]
        for row in db.execute("SELECT player_id, rank FROM season_standings WHERE season = 1")
    }
    assert ranks == {ids[0]: None, ids[1]: None, ids[2]: 1, ids[3]: 2}
    page = api.get("/v1/ladders/idle/seasons/1/standings").json()["items"]
    assert [(item["player_id"], item["percentile"]) for item in page] == [
        (ids[2], 50.0),
        (ids[3], 0.0),
    ]

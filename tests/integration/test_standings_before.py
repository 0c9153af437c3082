"""Where a recalculation starts: each player's standing just before a point, read back
from the present (`standings_before`), equals what the whole history before the point
says, read forwards (an independent query), at every point of a ladder holding an
opening balance, draws, a late match replayed in order and a void not yet recalculated.

(Between a late match rated at once and its own recalculation, the two readings can
differ for players with no entry after the point: the present holds the late match,
the history before the point in rating order does not. A recalculation from a point
after it meanwhile is followed by that one, from the late match's point, which
replays those players either way.)"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from psycopg.rows import tuple_row

from ladder import commands
from ladder.ladders import find_ladder
from ladder.ratings.recalculation import PLAYED_AT_TEXT, Point, standings_before
from tests.helpers import create_player, record_match

pytestmark = pytest.mark.usefixtures("clean_state")

FORWARDS = (
    "SELECT h.player_id::text, (array_agg(h.rating_after ORDER BY h.played_at DESC,"
    " h.seq DESC))[1], count(*) FILTER (WHERE h.reason = 'match') + coalesce(sum(b.games), 0), "
    + PLAYED_AT_TEXT.format(column="max(h.played_at) FILTER (WHERE h.reason = 'match')")
    + " FROM rating_history h LEFT JOIN matches m ON m.id = h.match_id"
    " LEFT JOIN opening_balances b ON h.reason = 'import' AND b.ladder_id = h.ladder_id"
    " AND b.player_id = h.player_id"
    " WHERE h.ladder_id = %s AND (m.id IS NULL OR NOT m.voided)"
    " AND (h.played_at, h.seq) < (%s, %s) GROUP BY h.player_id"
)


def test_standings_before_any_point_equal_the_history_before_it(
    client, writer, admin, db, resources
):
    text = b"handle,rating,games\nsb_opening,1620,12\n"
    commands.import_standings(resources, io.BytesIO(text), "default")
    ids = [create_player(client, writer, f"sb_{i}")["id"] for i in range(7)]
    ids.append(client.get("/v1/players?handle=sb_opening").json()["id"])
    rng = random.Random(16)
    at = datetime.now(UTC) - timedelta(days=2)
    recorded = []
    for n in range(60):
        a, b = rng.sample(ids, 2)
        response = record_match(
            client,
            writer,
            a,
            b,
            rng.choice([0.0, 0.5, 1.0]),
            played_at=(at + timedelta(minutes=n)).isoformat(),
        )
        assert response.status_code == 201, response.text
        recorded.append(response.json())
    # A late match, rated at once and then replayed in order by its recalculation; then
    # a void whose recalculation has not run: the history holds a voided match's
    # entries, as a recalculation from a later point can find it.
    late_at = (at + timedelta(minutes=30, seconds=30)).isoformat()
    assert record_match(client, writer, ids[0], ids[1], 1.0, played_at=late_at).status_code == 201
    (job,) = db.execute(
        "SELECT id FROM jobs WHERE status = 'queued' AND type = 'elo.recalculate'"
    ).fetchall()
    commands.run_job_here(resources, job["id"])
    assert client.post(f"/v1/matches/{recorded[20]['id']}/void", headers=admin).status_code == 202

    points = [Point(datetime.fromisoformat(m["played_at"]), m["seq"]) for m in recorded]
    points += [Point(p.played_at, p.seq + 1) for p in points[::7]]
    points += [Point(at - timedelta(days=1), 0), Point(at + timedelta(days=1), 0)]
    with db.cursor(row_factory=tuple_row) as cur:
        ladder = find_ladder(db, "default")
        for point in points:
            expected = {
                player: [rating, games, last]
                for player, rating, games, last in cur.execute(
                    FORWARDS, (ladder.id, point.played_at, point.seq)
                )
            }
            assert standings_before(db, ladder, point) == expected, point
            some = sorted(expected)[:3]
            assert standings_before(db, ladder, point, some) == {p: expected[p] for p in some}

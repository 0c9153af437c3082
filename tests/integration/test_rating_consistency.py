"""Stored ratings always equal an independent replay of the spec's formula."""

import random
import threading
from datetime import UTC, datetime

import pytest

from tests.helpers import create_player, record_match, spec_replay


def _assert_ratings_equal_replay(client, db, player_ids):
    matches = db.execute(
        "SELECT player_a::text AS a, player_b::text AS b, score_a FROM matches"
        " WHERE NOT voided ORDER BY played_at, seq"
    ).fetchall()
    expected = spec_replay((m["a"], m["b"], m["score_a"]) for m in matches)
    for player_id in player_ids:
        stored = client.get(f"/v1/players/{player_id}").json()
        rating, games = expected.get(player_id, (1500.0, 0))
        assert stored["games"] == games
        assert stored["rating"] == pytest.approx(rating, abs=1e-9)
    return len(matches)


def test_eight_threads_reporting_among_five_players_lose_no_update(client, writer, db):
    players = [create_player(client, writer, f"p{i}_racer")["id"] for i in range(5)]
    failures = []

    def reporter(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(25):
            a, b = rng.sample(players, 2)
            response = record_match(client, writer, a, b, rng.choice([0.0, 0.5, 1.0]))
            if response.status_code != 201:
                failures.append(response.text)

    threads = [threading.Thread(target=reporter, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    # Recording order (seq) and rating order agree for matches sharing a player.
    assert _assert_ratings_equal_replay(client, db, players) == 200


def test_a_thousand_matches_through_the_api_equal_a_replay_in_rating_order(client, writer, db):
    rng = random.Random(1000)
    players = [create_player(client, writer, f"player_{i:02d}")["id"] for i in range(40)]
    for i in range(1000):
        a, b = rng.sample(players, 2)
        extra = {}
        if i % 3 == 0:  # a third carry an explicit played_at (in order: the client's now)
            extra["played_at"] = datetime.now(UTC).isoformat()
        response = record_match(client, writer, a, b, rng.choice([0.0, 0.5, 1.0]), **extra)
        assert response.status_code == 201, response.text
    assert _assert_ratings_equal_replay(client, db, players) == 1000
    history = db.execute(
        "SELECT count(*) AS n FROM rating_history h JOIN standings p"
        " ON p.player_id = h.player_id AND p.ladder_id = h.ladder_id"
        " WHERE h.seq = (SELECT max(seq) FROM rating_history WHERE player_id = p.player_id)"
        " AND h.rating_after = p.rating"
    ).fetchone()
    assert history["n"] == 40  # every player's latest history row is its current rating

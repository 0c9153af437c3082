"""Small API helpers shared by the integration tests."""

from __future__ import annotations

import uuid


def create_player(client, headers, handle: str, **extra) -> dict:
    response = client.post(
        "/v1/players",
        json={"handle": handle, "display_name": handle.title(), **extra},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def record_match(client, headers, a: str, b: str, score_a: float, key: str | None = None, **extra):
    return client.post(
        "/v1/matches",
        json={"player_a": a, "player_b": b, "score_a": score_a, **extra},
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


def spec_replay(matches, initial: float = 1500.0) -> dict[str, tuple[float, int]]:
    """An independent implementation of the spec's rating rules, written from SPEC.md.

    `matches` is an iterable of (player_a, player_b, score_a) in rating order.
    """
    state: dict[str, tuple[float, int]] = {}
    for a, b, s_a in matches:
        r_a, g_a = state.get(a, (initial, 0))
        r_b, g_b = state.get(b, (initial, 0))
        e_a = 1 / (1 + 10 ** ((r_b - r_a) / 400))
        e_b = 1 / (1 + 10 ** ((r_a - r_b) / 400))

        def k(rating, games):
            return 40 if games < 30 else (20 if rating < 2400 else 10)

        state[a] = (r_a + k(r_a, g_a) * (s_a - e_a), g_a + 1)
        state[b] = (r_b + k(r_b, g_b) * ((1 - s_a) - e_b), g_b + 1)
    return state


def stored_ratings(db) -> dict[str, tuple[float, int]]:
    rows = db.execute("SELECT id::text, rating, games FROM players").fetchall()
    return {r["id"]: (r["rating"], r["games"]) for r in rows}


def replay_of(db) -> dict[str, tuple[float, int]]:
    matches = db.execute(
        "SELECT player_a::text AS a, player_b::text AS b, score_a FROM matches"
        " WHERE NOT voided ORDER BY played_at, seq"
    ).fetchall()
    return spec_replay((m["a"], m["b"], m["score_a"]) for m in matches)


def assert_ratings_equal_replay(db) -> None:
    expected, stored = replay_of(db), stored_ratings(db)
    for player, (rating, games) in stored.items():
        want_rating, want_games = expected.get(player, (1500.0, 0))
        assert games == want_games, player
        assert abs(rating - want_rating) < 1e-9, player
    # History agrees with the players' current ratings.
    mismatched = db.execute(
        "SELECT count(*) AS n FROM players p WHERE p.games > 0 AND p.rating <> ("
        " SELECT rating_after FROM rating_history h WHERE h.player_id = p.id"
        " ORDER BY played_at DESC, seq DESC LIMIT 1)"
    ).fetchone()["n"]
    assert mismatched == 0

"""Small API helpers shared by the integration tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


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


# The spec's default rules, as SPEC.md writes them.
SPEC_RULES = {
    "initial": 1500.0,
    "provisional_games": 30,
    "k_provisional": 40.0,
    "k_established": 20.0,
    "master_threshold": 2400.0,
    "k_master": 10.0,
    "max_rating_gap": None,
}


def spec_replay(
    matches,
    rules: dict | None = None,
    *,
    start: dict | None = None,
    resets=(),
    factor: float = 0.0,
    until=None,
) -> dict[str, tuple[float, int]]:
    """An independent implementation of the spec's rating rules, written from SPEC.md.

    `matches` is an iterable of (player_a, player_b, score_a[, played_at]) in rating
    order; `rules` overrides SPEC_RULES. `start`: the standings some players begin from
    (opening balances; others begin as new players). `resets`: the instants of soft
    resets by `factor`, each turning every standing into initial + (rating - initial)
    × (1 - factor) before any match played at or after it (matches need their
    played_at). `until`: the standings just before that instant.
    """
    r = {**SPEC_RULES, **(rules or {})}
    initial, gap = r["initial"], r["max_rating_gap"]

    def expected(own: float, other: float) -> float:
        difference = other - own
        if gap is not None:
            difference = min(gap, max(-gap, difference))
        return 1 / (1 + 10 ** (difference / 400))

    def k(rating, games):
        if games < r["provisional_games"]:
            return r["k_provisional"]
        return r["k_established"] if rating < r["master_threshold"] else r["k_master"]

    state: dict[str, tuple[float, int]] = dict(start or {})
    pending = sorted(resets)

    def reset_before(moment) -> None:
        while pending and pending[0] <= moment and (until is None or pending[0] < until):
            pending.pop(0)
            for player, (rating, games) in state.items():
                state[player] = (initial + (rating - initial) * (1 - factor), games)

    for a, b, s_a, *played_at in matches:
        if played_at:
            if until is not None and played_at[0] >= until:
                break
            reset_before(played_at[0])
        r_a, g_a = state.get(a, (initial, 0))
        r_b, g_b = state.get(b, (initial, 0))
        e_a, e_b = expected(r_a, r_b), expected(r_b, r_a)
        state[a] = (r_a + k(r_a, g_a) * (s_a - e_a), g_a + 1)
        state[b] = (r_b + k(r_b, g_b) * ((1 - s_a) - e_b), g_b + 1)
    if pending:
        reset_before(until or datetime.max.replace(tzinfo=UTC))
    return state


def stored_ratings(db, ladder: str = "default") -> dict[str, tuple[float, int]]:
    rows = db.execute(
        "SELECT s.player_id::text AS id, s.rating, s.games FROM standings s"
        " JOIN ladders l ON l.id = s.ladder_id WHERE l.slug = %s",
        (ladder,),
    ).fetchall()
    return {r["id"]: (r["rating"], r["games"]) for r in rows}


def replay_of(db, ladder: str = "default", rules: dict | None = None, **replay):
    """`spec_replay` of the ladder's non-voided matches (`replay`: its keywords)."""
    matches = db.execute(
        "SELECT player_a::text AS a, player_b::text AS b, score_a, played_at FROM matches m"
        " JOIN ladders l ON l.id = m.ladder_id WHERE l.slug = %s AND NOT voided"
        " ORDER BY played_at, seq",
        (ladder,),
    ).fetchall()
    rows = ((m["a"], m["b"], m["score_a"], m["played_at"]) for m in matches)
    return spec_replay(rows, rules, **replay)


def assert_ratings_equal_replay(
    db, ladder: str = "default", rules: dict | None = None, **replay
) -> None:
    """Every standing of the ladder equals `replay_of` (< 1e-9, games exact), and its
    latest history entry agrees with it."""
    expected, stored = replay_of(db, ladder, rules, **replay), stored_ratings(db, ladder)
    initial = {**SPEC_RULES, **(rules or {})}["initial"]
    for player, (rating, games) in stored.items():
        want_rating, want_games = expected.get(player, (initial, 0))
        assert games == want_games, player
        assert abs(rating - want_rating) < 1e-9, player
    assert set(expected) <= set(stored), "a player with matches has no standing"
    # History agrees with the standings.
    mismatched = db.execute(
        "SELECT count(*) AS n FROM standings s JOIN ladders l ON l.id = s.ladder_id"
        " WHERE l.slug = %s AND s.games > 0 AND s.rating <> ("
        " SELECT rating_after FROM rating_history h"
        " WHERE h.player_id = s.player_id AND h.ladder_id = s.ladder_id"
        " ORDER BY played_at DESC, seq DESC LIMIT 1)",
        (ladder,),
    ).fetchone()["n"]
    assert mismatched == 0

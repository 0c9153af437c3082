"""Elo maths exactly as SPEC.md "Ratings" defines it: pure functions, no I/O.

Any two implementations of the spec must agree to the last float operation,
so the formulas are written the way the spec writes them and nothing is
rounded.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

VALID_SCORES = (0.0, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class RatingRules:
    """The parameters of the rating system (defaults are the spec's)."""

    initial: float = 1500.0
    provisional_games: int = 30
    k_provisional: float = 40.0
    k_established: float = 20.0
    master_threshold: float = 2400.0
    k_master: float = 10.0
    # FIDE's 400-point rule: |R_b - R_a| is capped at this inside the expected
    # score (None: no cap). The ratings themselves are never capped.
    max_rating_gap: float | None = None

    @classmethod
    def from_settings(cls, settings) -> RatingRules:
        return cls(
            initial=settings.rating_initial,
            provisional_games=settings.rating_provisional_games,
            k_provisional=settings.rating_k_provisional,
            k_established=settings.rating_k_established,
            master_threshold=settings.rating_master_threshold,
            k_master=settings.rating_k_master,
        )


@dataclass(frozen=True, slots=True)
class Standing:
    """A player's rating state: what K and the expected score depend on."""

    rating: float
    games: int


def expected_score(rating_a: float, rating_b: float, max_gap: float | None = None) -> float:
    """E_a = 1 / (1 + 10 ** ((R_b - R_a) / 400)), R_b - R_a capped at ±max_gap if given."""
    difference = rating_b - rating_a
    if max_gap is not None:
        difference = max(-max_gap, min(max_gap, difference))
    return 1 / (1 + 10 ** (difference / 400))


def k_factor(standing: Standing, rules: RatingRules) -> float:
    """K from the state before the match."""
    return _k(standing.rating, standing.games, rules)


def _k(rating: float, games: int, rules: RatingRules) -> float:
    if games < rules.provisional_games:
        return rules.k_provisional
    if rating < rules.master_threshold:
        return rules.k_established
    return rules.k_master


def rate(a: Standing, b: Standing, score_a: float, rules: RatingRules) -> tuple[Standing, Standing]:
    """Both players' standings after a match in which A scored `score_a`."""
    if score_a not in VALID_SCORES:
        raise ValueError(f"score_a must be one of {VALID_SCORES}, got {score_a!r}")
    after_a, after_b = rate_values(a.rating, a.games, b.rating, b.games, score_a, rules)
    return Standing(after_a, a.games + 1), Standing(after_b, b.games + 1)


def rate_values(
    rating_a: float, games_a: int, rating_b: float, games_b: int, score_a: float, rules: RatingRules
) -> tuple[float, float]:
    """`rate` on plain numbers: the bulk recalculation's inner loop, without allocations."""
    expected_a = expected_score(rating_a, rating_b, rules.max_rating_gap)
    expected_b = expected_score(rating_b, rating_a, rules.max_rating_gap)
    return (
        rating_a + _k(rating_a, games_a, rules) * (score_a - expected_a),
        rating_b + _k(rating_b, games_b, rules) * ((1 - score_a) - expected_b),
    )


def replay(
    matches: Iterable[tuple[Hashable, Hashable, float]],
    rules: RatingRules,
    start: Mapping[Hashable, Standing] | None = None,
) -> dict[Hashable, Standing]:
    """Standings after rating `(player_a, player_b, score_a)` matches in the order given.

    Players absent from `start` begin as new players.
    """
    standings: dict[Hashable, Standing] = dict(start or {})
    new = Standing(rules.initial, 0)
    for player_a, player_b, score_a in matches:
        after_a, after_b = rate(
            standings.get(player_a, new), standings.get(player_b, new), score_a, rules
        )
        standings[player_a] = after_a
        standings[player_b] = after_b
    return standings

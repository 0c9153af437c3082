import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ladder.ratings.elo import RatingRules, Standing, expected_score, k_factor, rate, replay

RULES = RatingRules()
ratings = st.floats(min_value=100, max_value=3500, allow_nan=False)
games = st.integers(min_value=0, max_value=500)
scores = st.sampled_from([0.0, 0.5, 1.0])


def test_new_players_win_moves_twenty_points_each_way():
    a, b = rate(Standing(1500.0, 0), Standing(1500.0, 0), 1.0, RULES)
    assert a == Standing(1520.0, 1)
    assert b == Standing(1480.0, 1)


def test_hand_computed_upset_between_established_players():
    # E_a = 1 / (1 + 10 ** (200 / 400)) = 1 / (1 + sqrt(10)) = 0.2402530733520421; E_b = 1 - E_a
    # Both have >= 30 games and < 2400, so K = 20 for both:
    # A: 1600 + 20 * (1 - 0.2402530733520421) = 1615.194938532959
    # B: 1800 + 20 * (0 - 0.7597469266479579) = 1784.805061467041
    a, b = rate(Standing(1600.0, 30), Standing(1800.0, 45), 1.0, RULES)
    assert a.rating == pytest.approx(1615.194938532959, abs=1e-9)
    assert b.rating == pytest.approx(1784.805061467041, abs=1e-9)
    assert (a.games, b.games) == (31, 46)


def test_master_k_applies_at_2400_after_30_games():
    assert k_factor(Standing(2399.99, 30), RULES) == 20
    assert k_factor(Standing(2400.0, 30), RULES) == 10
    assert k_factor(Standing(2600.0, 29), RULES) == 40


def test_draw_between_equals_changes_nothing_but_games():
    a, b = rate(Standing(1700.0, 40), Standing(1700.0, 40), 0.5, RULES)
    assert (a.rating, b.rating) == (1700.0, 1700.0)
    assert (a.games, b.games) == (41, 41)


def test_expected_scores_sum_to_one():
    assert expected_score(1500, 1900) + expected_score(1900, 1500) == pytest.approx(1.0)


def test_unknown_score_is_rejected():
    with pytest.raises(ValueError, match="score_a"):
        rate(Standing(1500.0, 0), Standing(1500.0, 0), 0.7, RULES)


@given(ratings, ratings, st.integers(0, 29), st.integers(0, 29), scores)
def test_with_equal_k_the_sum_of_ratings_is_conserved(r_a, r_b, g_a, g_b, score):
    a, b = rate(Standing(r_a, g_a), Standing(r_b, g_b), score, RULES)
    assert math.isclose(a.rating + b.rating, r_a + r_b, abs_tol=1e-9)


@given(ratings, ratings, games, games)
def test_a_win_never_lowers_a_rating_and_a_loss_never_raises_one(r_a, r_b, g_a, g_b):
    winner, loser = rate(Standing(r_a, g_a), Standing(r_b, g_b), 1.0, RULES)
    assert winner.rating >= r_a
    assert loser.rating <= r_b


def test_replay_rates_in_the_order_given():
    matches = [("a", "b", 1.0), ("b", "c", 0.5), ("a", "c", 0.0)]
    standings = replay(matches, RULES)
    first_a, first_b = rate(Standing(1500.0, 0), Standing(1500.0, 0), 1.0, RULES)
    second_b, second_c = rate(first_b, Standing(1500.0, 0), 0.5, RULES)
    third_a, third_c = rate(first_a, second_c, 0.0, RULES)
    assert standings == {"a": third_a, "b": second_b, "c": third_c}

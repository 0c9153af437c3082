"""A player's rank and percentile, and the board walked both ways or around a player:
all equal to an independent sort of the standings in Postgres."""

from __future__ import annotations

import io

import pytest
from psycopg.rows import dict_row

from ladder.leaderboard import LeaderboardCursor
from tests.helpers import create_player, record_match
from tests.integration.test_ladders import create_ladder

pytestmark = pytest.mark.usefixtures("clean_state")

LIMIT = 4


def independent_board(db, slug: str) -> list[dict]:
    """The ranked standings sorted in Python: rating desc, games desc, handle asc."""
    rows = db.execute(
        "SELECT s.player_id::text, s.handle, s.rating, s.games FROM standings s"
        " JOIN ladders l ON l.id = s.ladder_id"
        " WHERE l.slug = %s AND s.games > 0 AND s.games >= (l.board->>'min_games')::int",
        (slug,),
    ).fetchall()
    board = sorted(rows, key=lambda r: (-r["rating"], -r["games"], r["handle"]))
    return [{"rank": i + 1, **row} for i, row in enumerate(board)]


def shown(page: dict) -> list[dict]:
    return [
        {k: item[k] for k in ("rank", "player_id", "handle", "rating", "games")}
        for item in page["items"]
    ]


@pytest.fixture(params=["postgres", "index"])
def served_by(request, resources):
    """Who answers the reads: Postgres (no rank index live), or the rank index, built
    from Postgres by `index_ladder` and then kept by every write."""
    from ladder.rank_index import sync

    def index_ladder(slug: str) -> None:
        if request.param == "index":
            assert sync.rebuild(resources, slug)["rebuilt"]
            assert resources.index.live(slug) is not None
        else:
            resources.index.drop(slug)

    return index_ladder


@pytest.fixture
def tied_ladder(client, writer, admin, served_by):
    """24 players in pairs: every pair plays the same results, so whole groups share a
    rating and games (ties broken by handle); four play once, below `min_games`."""
    create_ladder(client, admin, "ranks", board={"min_games": 2})
    ids = [create_player(client, writer, f"tie_{i:02d}")["id"] for i in range(24)]
    served_by("ranks")
    for round_ in range(3):
        for k in range(0, 20, 2):
            score = [1.0, 0.5, 0.0][(k // 2 + round_) % 3] if k < 12 else 1.0
            response = record_match(client, writer, ids[k], ids[k + 1], score, ladder="ranks")
            assert response.status_code == 201, response.text
    for k in (20, 22):
        record_match(client, writer, ids[k], ids[k + 1], 1.0, ladder="ranks")
    return ids


def test_each_players_rank_and_percentile_equal_an_independent_sort(client, db, tied_ladder):
    board = independent_board(db, "ranks")
    assert len({(r["rating"], r["games"]) for r in board}) < len(board) / 2  # many ties
    by_player = {row["player_id"]: row for row in board}
    for player in tied_ladder:
        response = client.get(f"/v1/ladders/ranks/players/{player}")
        assert response.status_code == 200, response.text
        standing = response.json()
        expected = by_player.get(player)
        assert standing["on_board"] is (expected is not None)
        if expected is None:  # below min_games: rated, not ranked
            assert standing["rank"] is None
            assert standing["percentile"] is None
            assert standing["games"] == 1
            continue
        assert standing["rank"] == expected["rank"]
        assert standing["percentile"] == 100 * (len(board) - expected["rank"]) / len(board)
        assert (standing["rating"], standing["games"]) == (expected["rating"], expected["games"])
        assert standing["peak_rating"] >= standing["rating"]
        assert standing["provisional"] is True  # fewer than 30 games


def test_the_board_walked_down_then_up_equals_an_independent_sort(client, db, tied_ladder):
    board = independent_board(db, "ranks")
    pages, cursor = [], None
    while True:
        query = f"limit={LIMIT}" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/ladders/ranks/leaderboard?{query}").json()
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [row for page in pages for row in shown(page)] == board
    assert pages[0]["prev_cursor"] is None
    assert all(page["prev_cursor"] for page in pages[1:])

    walked_up, cursor = [], pages[-1]["prev_cursor"]
    while cursor is not None:
        page = client.get(f"/v1/ladders/ranks/leaderboard?limit={LIMIT}&cursor={cursor}").json()
        assert page["next_cursor"] is not None  # the rows below it are still there
        walked_up = shown(page) + walked_up
        cursor = page["prev_cursor"]
    assert walked_up + shown(pages[-1]) == board


def test_a_page_around_each_ranked_player_is_centred_on_them(client, db, tied_ladder):
    board = independent_board(db, "ranks")
    for index, row in enumerate(board):
        page = client.get(
            f"/v1/ladders/ranks/leaderboard?limit={LIMIT}&around={row['player_id']}"
        ).json()
        first = index - min((LIMIT - 1) // 2, index)
        first = max(0, min(first, len(board) - LIMIT))
        assert shown(page) == board[first : first + LIMIT], row["handle"]
        assert (page["prev_cursor"] is not None) == (first > 0)
        assert (page["next_cursor"] is not None) == (first + LIMIT < len(board))


def test_around_names_a_ranked_player_and_comes_without_a_cursor(client, tied_ladder):
    unranked, unknown = tied_ladder[20], "00000000-0000-4000-8000-000000000000"
    for player in (unranked, unknown):
        response = client.get(f"/v1/ladders/ranks/leaderboard?around={player}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    first = client.get("/v1/ladders/ranks/leaderboard?limit=2").json()
    both = client.get(
        f"/v1/ladders/ranks/leaderboard?cursor={first['next_cursor']}&around={tied_ladder[0]}"
    )
    assert both.status_code == 400
    assert client.get(f"/v1/ladders/ranks/players/{unknown}").status_code == 404


def test_a_prev_cursor_whose_rows_above_moved_down_gives_the_top_page(
    client, writer, admin, served_by
):
    create_ladder(client, admin, "moves")
    served_by("moves")
    ids = [create_player(client, writer, f"mv_{i}")["id"] for i in range(6)]
    for a, b in ((0, 1), (2, 3), (4, 5)):  # mv_0, mv_2, mv_4 tie at the top
        record_match(client, writer, ids[a], ids[b], 1.0, ladder="moves")
    second = client.get(
        "/v1/ladders/moves/leaderboard?limit=1&cursor="
        + client.get("/v1/ladders/moves/leaderboard?limit=1").json()["next_cursor"]
    ).json()
    assert [row["handle"] for row in second["items"]] == ["mv_2"]
    record_match(client, writer, ids[0], ids[1], 0.0, ladder="moves")  # mv_0 drops below

    above = client.get(f"/v1/ladders/moves/leaderboard?limit=1&cursor={second['prev_cursor']}")
    page = above.json()
    assert [(row["rank"], row["handle"]) for row in page["items"]] == [(1, "mv_2")]
    assert page["prev_cursor"] is None
    assert page["next_cursor"] is not None


def test_a_standing_from_an_opening_balance_alone_is_off_an_inactivity_board(
    client, admin, resources
):
    from ladder import commands

    create_ladder(client, admin, "idle", board={"min_games": 1, "inactive_after_days": 30})
    text = b"handle,rating,games\nbal_only,1700,40\n"
    commands.import_standings(resources, io.BytesIO(text), "idle")
    player = client.get("/v1/players?handle=bal_only").json()["id"]
    standing = client.get(f"/v1/ladders/idle/players/{player}").json()
    # Never played here: no time to be active since, so not ranked (as the board reads it).
    assert standing["on_board"] is False
    assert standing["rank"] is None
    assert (standing["rating"], standing["games"], standing["peak_rating"]) == (1700, 40, 1700)
    assert standing["last_played_at"] is None


def test_the_peak_is_the_initial_rating_for_a_player_who_has_only_lost(client, writer, admin):
    create_ladder(client, admin, "peaks")
    a, b = (create_player(client, writer, f"pk_{i}")["id"] for i in range(2))
    for _ in range(3):
        record_match(client, writer, a, b, 0.0, ladder="peaks")
    loser = client.get(f"/v1/ladders/peaks/players/{a}").json()
    assert loser["rating"] < 1500
    assert loser["peak_rating"] == 1500
    winner = client.get(f"/v1/ladders/peaks/players/{b}").json()
    assert winner["peak_rating"] == winner["rating"] > 1500


def test_the_default_board_takes_around_too(client, writer, tied_ladder):
    ids = [create_player(client, writer, f"dflt_{i}")["id"] for i in range(4)]
    for a, b in ((0, 1), (2, 3)):
        record_match(client, writer, ids[a], ids[b], 1.0)
    page = client.get(f"/v1/leaderboard?limit=3&around={ids[3]}").json()
    assert ids[3] in [row["player_id"] for row in page["items"]]
    assert page["items"][0]["rank"] == 2


def test_handles_tie_break_byte_by_byte_whatever_the_databases_collation(postgres_server_url):
    """`a0x` comes before `a_x` byte by byte ('0' is 0x30, '_' 0x5f); an en-US collation
    puts punctuation first. The board must not follow the database's default."""
    import psycopg

    from ladder.db.migrations import migrate
    from ladder.leaderboard import board_page
    from ladder_dev.local_services import scratch_database

    en_us = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
    with scratch_database(postgres_server_url, "collation", en_us) as url:
        migrate(url)
        with psycopg.connect(url, row_factory=dict_row) as conn:
            assert conn.execute("SELECT 'a_x' < 'a0x' AS icu").fetchone()["icu"]  # en-US
            for handle in ("a_x", "a0x", "abx"):
                conn.execute(
                    "WITH p AS (INSERT INTO players (id, handle, display_name)"
                    " VALUES (gen_random_uuid(), %s, %s) RETURNING id, handle)"
                    " INSERT INTO standings (ladder_id, player_id, handle, rating, games)"
                    " SELECT 1, id, handle, 1500, 1 FROM p",
                    (handle, handle),
                )
            page = board_page(conn, "default", 2, None, None)
            assert [row.handle for row in page.items] == ["a0x", "a_x"]
            rest = board_page(
                conn, "default", 2, LeaderboardCursor(**page.items[-1].model_dump()), None
            )
            assert [(row.rank, row.handle) for row in rest.items] == [(3, "abx")]

"""Importing standings (opening balances): each is a player's first standing in a
ladder, an entry in rating order that every recalculation applies again."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest

from ladder import commands
from ladder.errors import ImportRejected
from tests.helpers import SPEC_RULES, create_player, record_match
from tests.integration.conftest import drain
from tests.integration.test_cli import one_line_error, shell  # noqa: F401 - a fixture
from tests.integration.test_ladders import create_ladder

HEADER = "handle,rating,games\n"


def standings_csv(players: int, seed: int = 5) -> str:
    rng = random.Random(seed)
    rows = [f"Bal_{i},{rng.uniform(900, 2600)!r},{rng.randrange(0, 80)}\n" for i in range(players)]
    return HEADER + "".join(rows)


def balances_of(text: str) -> dict[str, tuple[float, int]]:
    rows = [line.split(",") for line in text.splitlines()[1:]]
    return {h.strip().lower(): (float(r), int(g)) for h, r, g in rows}


def replay_from_balances(db, ladder: str, balances: dict, resets=(), factor: float = 0.0):
    """An independent replay: each handle starts from its balance (others from the
    initial rating), soft resets at `resets`, matches in (played_at, seq) order."""
    r = SPEC_RULES
    handle_of = {
        row["id"]: row["handle"]
        for row in db.execute("SELECT id::text AS id, handle FROM players").fetchall()
    }
    state = {h: balances[h] for h in balances}
    matches = db.execute(
        "SELECT player_a::text AS a, player_b::text AS b, score_a, played_at FROM matches m"
        " JOIN ladders l ON l.id = m.ladder_id WHERE l.slug = %s AND NOT voided"
        " ORDER BY played_at, seq",
        (ladder,),
    ).fetchall()
    pending = sorted(resets)

    def expected(own, other):
        return 1 / (1 + 10 ** ((other - own) / 400))

    def k(rating, games):
        if games < r["provisional_games"]:
            return r["k_provisional"]
        return r["k_established"] if rating < r["master_threshold"] else r["k_master"]

    def reset_through(moment):
        while pending and pending[0] <= moment:
            pending.pop(0)
            for player, (rating, games) in state.items():
                state[player] = (r["initial"] + (rating - r["initial"]) * (1 - factor), games)

    for m in matches:
        reset_through(m["played_at"])
        a, b = handle_of[m["a"]], handle_of[m["b"]]
        (r_a, g_a), (r_b, g_b) = (state.get(p, (r["initial"], 0)) for p in (a, b))
        s_a = m["score_a"]
        state[a] = (r_a + k(r_a, g_a) * (s_a - expected(r_a, r_b)), g_a + 1)
        state[b] = (r_b + k(r_b, g_b) * ((1 - s_a) - expected(r_b, r_a)), g_b + 1)
    reset_through(datetime.max.replace(tzinfo=UTC))
    return state


def assert_standings_equal(db, ladder: str, expected: dict) -> None:
    stored = {
        row["handle"]: (row["rating"], row["games"])
        for row in db.execute(
            "SELECT s.handle, s.rating, s.games FROM standings s JOIN ladders l"
            " ON l.id = s.ladder_id WHERE l.slug = %s",
            (ladder,),
        ).fetchall()
    }
    assert set(stored) == set(expected)
    for handle, (rating, games) in expected.items():
        assert stored[handle][1] == games, handle
        assert abs(stored[handle][0] - rating) < 1e-9, handle


def import_standings(resources, text: str, ladder: str = "default"):
    loaded = commands.import_standings(resources, io.BytesIO(text.encode()), ladder)
    if loaded.job_id is not None and not loaded.already:
        commands.run_job_here(resources, loaded.job_id)
    return loaded


def player_id(db, handle: str) -> str:
    return str(db.execute("SELECT id FROM players WHERE handle = %s", (handle,)).fetchone()["id"])


def test_balances_open_standings_that_matches_and_recalculations_start_from(
    api, jobs, queues, db, writer, admin
):
    text = standings_csv(12)
    balances = balances_of(text)
    loaded = import_standings(jobs.resources, text)
    assert (loaded.rows, loaded.players_created, loaded.job_id) == (12, 12, None)
    assert_standings_equal(db, "default", balances)
    first = player_id(db, "bal_0")
    assert api.get(f"/v1/players/{first}").json()["rating"] == balances["bal_0"][0]
    history = api.get(f"/v1/ladders/default/players/{first}/ratings").json()["items"]
    assert [(e["reason"], e["match_id"], e["after"]) for e in history] == [
        ("import", None, balances["bal_0"][0])
    ]

    # Live matches (some late) among balanced players and a newcomer.
    newcomer = create_player(api, writer, "fresh_one")["id"]
    ids = [player_id(db, f"bal_{i}") for i in range(12)] + [newcomer]
    rng = random.Random(9)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(80):
        a, b = rng.sample(ids, 2)
        at = start + timedelta(hours=i - (30 if i % 9 == 8 else 0))
        response = record_match(
            api, writer, a, b, rng.choice([0.0, 0.5, 1.0]), played_at=at.isoformat()
        )
        assert response.status_code == 201, response.text
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    assert_standings_equal(db, "default", replay_from_balances(db, "default", balances))

    # A full recalculation applies them again and changes nothing.
    job = api.post("/v1/admin/recalculations", headers=admin).json()["job_id"]
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    result = api.get(f"/v1/admin/jobs/{job}", headers=admin).json()["result"]
    assert result["players_changed"] == 0
    assert_standings_equal(db, "default", replay_from_balances(db, "default", balances))

    # The same file again changes nothing.
    before = db.execute("SELECT count(*) AS n FROM rating_history").fetchone()["n"]
    again = import_standings(jobs.resources, text.replace("\n", "\r\n"))
    assert again.already
    assert db.execute("SELECT count(*) AS n FROM rating_history").fetchone()["n"] == before


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("bal_x,1500", "2 fields, expected 3"),
        ("Bad Handle,1500,3", "is not a handle"),
        ("bal_x,nan,3", "rating must be a number"),
        ("bal_x,1e400,3", "rating must be a number"),
        ("bal_x,-1,3", "rating must be a number"),
        ("bal_x,1500,2.5", "games must be an integer"),
        ("bal_x,1500,-1", "games must be an integer"),
        ("bal_x,1500,\u0661\u0662", "games must be an integer"),
        ("bal_0,1500,3", "bal_0 is on line 2 too"),
        ("bal_x,1_500,3", "rating must be a number"),
        ("bal_x,-0,3", "rating must be a number"),
        ("bal_x,1500,1_0", "games must be an integer"),
        ("\u212aab,1500,3", "is not a handle"),  # the Kelvin sign lower-cases to k
    ],
)
def test_one_bad_row_names_its_line_and_imports_nothing(resources, db, row, words):
    text = standings_csv(3) + row + "\n"
    with pytest.raises(ImportRejected, match=rf"^line 5: .*{words}"):
        commands.import_standings(resources, io.BytesIO(text.encode()), "default")
    for table in ("players", "standings", "opening_balances", "rating_history"):
        assert db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0


def test_a_player_with_a_standing_cannot_get_an_opening_balance(api, resources, db, writer):
    a, b = (create_player(api, writer, f"bal_{i}")["id"] for i in range(2))
    assert record_match(api, writer, a, b, 1.0).status_code == 201
    with pytest.raises(ImportRejected, match=r"^line 2: bal_0 already has a standing"):
        commands.import_standings(resources, io.BytesIO(standings_csv(3).encode()), "default")
    assert db.execute("SELECT count(*) AS n FROM opening_balances").fetchone()["n"] == 0


def test_a_soft_reset_already_written_applies_to_new_balances(api, jobs, queues, db, writer, admin):
    now = datetime.now(UTC).replace(microsecond=0)
    anchor = now - timedelta(days=3)
    seasons = {
        "every": "P7D",
        "anchor": anchor.isoformat(),
        "grace_seconds": 7 * 86400,
        "reset": "soft",
        "factor": 0.25,
    }
    create_ladder(api, admin, "resets", seasons=seasons)
    a, b = (create_player(api, writer, f"early_{i}")["id"] for i in range(2))
    at = (anchor - timedelta(days=1)).isoformat()
    assert record_match(api, writer, a, b, 1.0, played_at=at, ladder="resets").status_code == 201
    commands.tick_seasons(jobs.resources)
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])  # the anchor's reset is written
    text = standings_csv(4)
    loaded = import_standings(jobs.resources, text, "resets")
    assert loaded.job_id is not None  # replayed, with the reset in place
    expected = replay_from_balances(db, "resets", balances_of(text), [anchor], 0.25)
    assert_standings_equal(db, "resets", expected)


def test_the_cli_imports_standings(shell, tmp_path, db):  # noqa: F811
    path = tmp_path / "standings.csv"
    path.write_text(standings_csv(5))
    result = shell("import", "standings", str(path), "--ladder", "default")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imported 5 standings into default\n"
    again = shell("import", "standings", str(path), "--ladder", "default")
    assert again.returncode == 0
    assert "nothing changed" in again.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "someone,lots,3\n")
    one_line_error(shell("import", "standings", str(bad), "--ladder", "default"), 1, "line 2")


def test_a_balance_imported_while_a_recalculation_runs_is_kept(api, jobs, db, writer):
    # Found by review: the recalculation applied the standings of its snapshot over a
    # balance committed after it, and deleted the balance's history entry.
    import threading

    from ladder.jobs import store
    from ladder.ratings.recalculation import recalculate

    a, b = (create_player(api, writer, f"busy_{i}")["id"] for i in range(2))
    assert record_match(api, writer, a, b, 1.0).status_code == 201
    res = jobs.resources
    job = res.db.run(
        lambda conn: store.schedule_recalculation(
            conn, ladder_id=1, from_played_at=None, from_seq=None
        )
    )
    imported = []

    def between_read_and_apply(fraction: float) -> None:
        if fraction == 0.6:  # the replay is done; its apply has not begun
            worker = threading.Thread(
                target=lambda: imported.append(import_standings(res, HEADER + "racer,2222,50\n"))
            )
            worker.start()
            worker.join()

    recalculate(res.db, job_id=job, ladder_id=1, start=None, progress=between_read_and_apply)
    assert imported
    racer = db.execute("SELECT rating, games FROM standings WHERE handle = 'racer'").fetchone()
    assert (racer["rating"], racer["games"]) == (2222.0, 50)
    entries = db.execute("SELECT count(*) AS n FROM rating_history WHERE reason = 'import'")
    assert entries.fetchone()["n"] == 1


def test_a_balance_after_a_season_closed_by_the_clock_lands_after_it(
    api, jobs, queues, db, writer, admin
):
    # Found by review: before the close job ran, the balance was placed in 1970, inside
    # seasons already closed, and the late close froze it into them.
    now = datetime.now(UTC).replace(microsecond=0)
    anchor = now - timedelta(days=10)
    seasons = {"every": "P7D", "anchor": anchor.isoformat(), "grace_seconds": 0}
    create_ladder(api, admin, "clocked", seasons=seasons)
    import_standings(jobs.resources, HEADER + "cf_a,2600,60\n", "clocked")
    applies = db.execute("SELECT applies_at FROM opening_balances").fetchone()["applies_at"]
    assert applies == anchor + timedelta(days=7)  # season 2's start: 0 and 1 are closed
    ladder_id = db.execute("SELECT id FROM ladders WHERE slug = 'clocked'").fetchone()["id"]
    assert commands.close_seasons(jobs.resources, ladder_id) == [0, 1]
    frozen = db.execute("SELECT count(*) AS n FROM season_standings").fetchone()["n"]
    assert frozen == 0  # not in the closed seasons

"""Importing standings (opening balances): each is a player's first standing in a
ladder, an entry in rating order that every recalculation applies again."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest

from ladder import commands
from ladder.errors import ImportRejected
from tests.helpers import (
    assert_ratings_equal_replay,
    create_player,
    record_match,
    stored_ratings,
)
from tests.integration.conftest import drain
from tests.integration.test_cli import one_line_error, shell  # noqa: F401 - a fixture
from tests.integration.test_ladders import create_ladder

HEADER = "handle,rating,games\n"


def standings_csv(players: int, seed: int = 5) -> str:
    rng = random.Random(seed)
    rows = [f"Bal_{i},{rng.uniform(900, 2600)!r},{rng.randrange(0, 80)}\n" for i in range(players)]
    return HEADER + "".join(rows)


def balances_of(db, text: str) -> dict[str, tuple[float, int]]:
    """The file's balances by player id: where an independent replay starts them."""
    rows = [line.split(",") for line in text.splitlines()[1:]]
    return {player_id(db, h.strip().lower()): (float(r), int(g)) for h, r, g in rows}


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
    loaded = import_standings(jobs.resources, text)
    assert (loaded.rows, loaded.players_created, loaded.job_id) == (12, 12, None)
    balances = balances_of(db, text)
    assert stored_ratings(db) == balances
    first = player_id(db, "bal_0")
    assert api.get(f"/v1/players/{first}").json()["rating"] == balances[first][0]
    history = api.get(f"/v1/ladders/default/players/{first}/ratings").json()["items"]
    assert [(e["reason"], e["match_id"], e["after"]) for e in history] == [
        ("import", None, balances[first][0])
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
    assert_ratings_equal_replay(db, start=balances)

    # A full recalculation applies them again and changes nothing.
    job = api.post("/v1/admin/recalculations", headers=admin).json()["job_id"]
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    result = api.get(f"/v1/admin/jobs/{job}", headers=admin).json()["result"]
    assert result["players_changed"] == 0
    assert_ratings_equal_replay(db, start=balances)

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
    balances = balances_of(db, text)
    assert_ratings_equal_replay(db, "resets", start=balances, resets=[anchor], factor=0.25)


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

"""Importing match history from CSV: validated whole, idempotent, rated by one
recalculation that equals a replay."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest

from ladder import commands
from ladder.errors import ImportRejected
from tests.helpers import assert_ratings_equal_replay, create_player, record_match
from tests.integration.test_cli import one_line_error, shell  # noqa: F401 - a fixture

HEADER = "played_at,player_a,player_b,score_a\n"
START = datetime(2024, 3, 1, tzinfo=UTC)


def history_csv(matches: int, players: int, seed: int = 3, start: datetime = START) -> str:
    """Matches among `players` handles, some sharing a played_at (rated in file order),
    with offsets, Z and spaces as files from other systems have them."""
    rng = random.Random(seed)
    lines = [HEADER]
    at = start
    for i in range(matches):
        if i % 4:  # every fourth row shares its predecessor's time
            at += timedelta(minutes=rng.randrange(1, 90))
        a, b = rng.sample(range(players), 2)
        when = (
            at.astimezone(UTC).isoformat().replace("+00:00", "Z")
            if i % 2
            else (at.astimezone(datetime.now().astimezone().tzinfo).isoformat())
        )
        lines.append(f"{when}, Imp_{a} ,imp_{b},{rng.choice(['1', '0.5', '0', '1.0'])}\n")
    return "".join(lines)


def run_import(resources, text: str, ladder: str = "default") -> dict:
    loaded = commands.import_matches(resources, io.BytesIO(text.encode()), ladder)
    result = None if loaded.already else commands.run_job_here(resources, loaded.job_id)
    return {"loaded": loaded, "result": result}


def counts(db) -> dict:
    return {
        table: db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]
        for table in ("players", "standings", "matches", "rating_history", "event_outbox", "jobs")
    }


def test_an_import_is_rated_as_a_replay_and_a_second_one_changes_nothing(resources, db):
    text = history_csv(600, 25)
    first = run_import(resources, text)
    assert first["loaded"].rows == 600
    assert first["loaded"].players_created == 25
    assert first["result"]["matches"] == 600
    assert_ratings_equal_replay(db)
    # Equal played_at rows are rated in file order: seqs follow the file.
    rows = db.execute("SELECT played_at, seq FROM matches ORDER BY seq").fetchall()
    assert [r["seq"] for r in rows] == list(range(rows[0]["seq"], rows[0]["seq"] + 600))
    created = db.execute("SELECT count(*) AS n FROM event_outbox WHERE type = 'player.created'")
    assert created.fetchone()["n"] == 25

    before, ratings = (
        counts(db),
        db.execute("SELECT * FROM standings ORDER BY player_id").fetchall(),
    )
    again = run_import(resources, text)
    assert again["loaded"].already
    assert again["loaded"].job_id == first["loaded"].job_id
    assert counts(db) == before
    assert db.execute("SELECT * FROM standings ORDER BY player_id").fetchall() == ratings


def test_older_history_under_live_matches_is_replayed_beneath_them(resources, db, client, writer):
    ids = [create_player(client, writer, f"imp_{i}")["id"] for i in range(4)]  # known handles
    for i in range(20):
        at = (START + timedelta(days=30, hours=i)).isoformat()
        record_match(client, writer, ids[i % 4], ids[(i + 1) % 4], 1.0, played_at=at)
    run_import(resources, history_csv(300, 8, seed=9))  # all before the live matches
    assert_ratings_equal_replay(db)
    assert db.execute("SELECT count(*) AS n FROM players").fetchone()["n"] == 8


def test_an_import_into_another_ladder_uses_its_rules(resources, db, client):
    from tests.conftest import bearer

    created = client.post(
        "/v1/ladders",
        json={
            "slug": "legacy",
            "name": "Legacy",
            "rules": {"initial": 1000.0, "k_provisional": 60.0},
        },
        headers=bearer("ladder:admin"),
    )
    assert created.status_code == 201
    run_import(resources, history_csv(200, 10), ladder="legacy")
    assert_ratings_equal_replay(db, "legacy", {"initial": 1000.0, "k_provisional": 60.0})
    assert (
        db.execute("SELECT count(*) AS n FROM rating_history WHERE ladder_id = 1").fetchone()["n"]
        == 0
    )


@pytest.mark.parametrize(
    ("bad_line", "words"),
    [
        ("2024-03-01T10:00:00,imp_1,imp_2,1", "offset"),
        ("2024-03-01T10:00:00Z,imp_1,imp_1,1", "themself"),
        ("2024-03-01T10:00:00Z,imp_1,Not A Handle,1", "not a handle"),
        ("2024-03-01T10:00:00Z,imp_1,imp_2,2", "score_a"),
        ("2024-03-01T10:00:00Z,imp_1,imp_2,-0", "score_a"),
        ("2024-03-01T10:00:00Z,imp_1,imp_2", "fields"),
        ("2024-02-30T10:00:00Z,imp_1,imp_2,1", "not a valid time"),
        ("2999-01-01T00:00:00Z,imp_1,imp_2,1", "future"),
        ("1601519400,imp_1,imp_2,1", "RFC 3339"),
    ],
)
def test_one_bad_row_names_its_line_and_imports_nothing(resources, db, bad_line, words):
    good = history_csv(50, 5).splitlines(keepends=True)
    text = "".join([*good[:31], bad_line + "\n", *good[31:]])
    before = counts(db)
    with pytest.raises(ImportRejected) as rejected:
        run_import(resources, text)
    assert rejected.value.detail.startswith("line 32: "), rejected.value.detail
    assert words in rejected.value.detail
    assert counts(db) == before


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "header"),
        ("player_a,player_b,score_a\n", "header"),
        (HEADER, "no matches"),
        (HEADER + '2024-03-01T10:00:00Z,"imp_1,imp_2,1\n', "line"),
    ],
)
def test_a_file_without_matches_or_header_is_rejected(resources, db, text, words):
    with pytest.raises(ImportRejected, match=words):
        run_import(resources, text)
    assert db.execute("SELECT count(*) AS n FROM players").fetchone()["n"] == 0


def test_the_cli_imports_and_says_so_in_one_line_when_it_cannot(shell, tmp_path, db):  # noqa: F811
    path = tmp_path / "history.csv"
    path.write_text(history_csv(120, 6))
    result = shell("import", "matches", str(path), "--ladder", "default")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imported 120 matches into default\n"
    assert_ratings_equal_replay(db)
    again = shell("import", "matches", str(path), "--ladder", "default")
    assert again.returncode == 0
    assert "nothing changed" in again.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "2024-03-01T10:00:00Z,imp_1,imp_2,3\n")
    one_line_error(shell("import", "matches", str(bad), "--ladder", "default"), 1, "line 2")
    one_line_error(
        shell("import", "matches", str(tmp_path / "missing.csv"), "--ladder", "default"),
        1,
        "cannot read",
    )
    one_line_error(shell("import", "matches", str(path), "--ladder", "nope"), 1, "no ladder")
    one_line_error(shell("import", "matches", str(path), "--ladder", "No!"), 2, "slug")


def run_queued_jobs(resources, db) -> None:
    """What the worker would do next: every queued job, in order."""
    for _ in range(10):
        queued = db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at")
        ids = [row["id"] for row in queued]
        if not ids:
            return
        for job_id in ids:
            commands.run_job_here(resources, job_id)


@pytest.mark.parametrize("before_the_file", [timedelta(seconds=1), timedelta(days=5)])
def test_a_live_match_while_an_import_is_rated_is_not_lost(
    resources, settings, db, writer, monkeypatch, before_the_file
):
    """A match recorded for an imported player, dated before the file's rows, while the
    import's recalculation has read but not yet written: the imported (not yet rated)
    matches make it late, so a recalculation from it follows."""
    from fastapi.testclient import TestClient

    from ladder.api.app import create_app
    from ladder.ratings import recalculation
    from ladder.resources import Resources

    api = Resources.from_settings(settings)  # the API's own connections, as in AWS
    client = TestClient(create_app(api))
    other = create_player(client, writer, "live_one")["id"]
    read = recalculation._read_and_replay
    recorded = []

    def read_then_record(conn, ladder, start):
        replay = read(conn, ladder, start)
        if not recorded:
            player = db.execute("SELECT id FROM players WHERE handle = 'imp_0'").fetchone()["id"]
            at = (START - before_the_file).isoformat()
            recorded.append(record_match(client, writer, str(player), other, 1.0, played_at=at))
        return replay

    monkeypatch.setattr(recalculation, "_read_and_replay", read_then_record)
    run_import(resources, history_csv(200, 5, seed=4))
    assert recorded[0].status_code == 201
    run_queued_jobs(resources, db)
    api.close()
    assert_ratings_equal_replay(db)


def test_the_same_history_saved_another_way_is_the_same_file(resources, db):
    text = history_csv(80, 6)
    run_import(resources, text)
    before = counts(db)
    variants = [
        text.replace("\n", "\r\n"),  # saved on Windows
        "\ufeff" + text,  # with a BOM
        text.replace("Z,", "+00:00,").replace("imp_", "IMP_"),
        text.replace(",1\n", ",1.0\n"),
    ]
    for variant in variants:
        assert run_import(resources, variant)["loaded"].already
    assert counts(db) == before


def test_an_import_whose_rating_did_not_finish_is_rated_when_run_again(
    shell,  # noqa: F811
    resources,
    tmp_path,
    db,
):
    path = tmp_path / "history.csv"
    path.write_text(history_csv(90, 6))
    with path.open("rb") as source:  # stored, then the process died before rating
        stored = commands.import_matches(resources, source, "default")
    assert db.execute("SELECT count(*) AS n FROM rating_history").fetchone()["n"] == 0
    result = shell("import", "matches", str(path), "--ladder", "default")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imported 90 matches into default\n"
    assert db.execute("SELECT status FROM jobs WHERE id = %s", (stored.job_id,)).fetchone() == {
        "status": "succeeded"
    }
    assert_ratings_equal_replay(db)

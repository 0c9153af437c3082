"""Anonymized exports: every column classified, no personal value left, still restorable."""

import re

import psycopg
import pytest
from psycopg.rows import dict_row

from ladder.anonymize.export import export_anonymized, find_values, unclassified_columns
from ladder.backup.catalog import tables
from ladder.backup.restore import restore_backup
from ladder.db.migrations import migrate

pytestmark = pytest.mark.usefixtures("clean_state")
SALT = "a-secret-salt-for-tests"


def test_every_column_of_the_migrated_schema_is_classified(database_url):
    with psycopg.connect(database_url) as conn:
        names = [t.name for t in tables(conn)]
        assert unclassified_columns(conn, names) == []


def test_a_new_unclassified_column_is_named(create_database):
    url = create_database("policy")
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE players ADD COLUMN phone text")
        assert unclassified_columns(conn, [t.name for t in tables(conn)]) == ["players.phone"]


def personal_values(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT handle, display_name, email FROM players").fetchall()
    return {v for row in rows for v in row if v}


def test_an_anonymized_export_keeps_no_personal_value_and_restores(
    store,
    settings,
    populated,
    create_database,
):
    originals = personal_values(settings.database_url)
    assert len(originals) == 15
    manifest = export_anonymized(settings.database_url, store, SALT)
    assert manifest.anonymized
    assert find_values(store, manifest, originals) == []

    target = create_database("staging")
    restore_backup(store, manifest.id, target)
    assert personal_values(target).isdisjoint(originals)
    with psycopg.connect(target, row_factory=dict_row) as conn:
        players = conn.execute(
            "SELECT p.id, p.handle, s.rating, s.handle AS standing_handle FROM players p"
            " JOIN standings s ON s.player_id = p.id AND s.ladder_id = 1"
        ).fetchall()
        assert all(re.fullmatch(r"[a-z0-9_]{3,32}", p["handle"]) for p in players)
        assert len({p["handle"] for p in players}) == len(players)
        # The board's copy of a handle gets the same fake: the board still sorts by it.
        assert all(p["standing_handle"] == p["handle"] for p in players)
        joined = conn.execute(
            "SELECT count(*) AS n FROM matches m JOIN players a ON a.id = m.player_a"
            " JOIN players b ON b.id = m.player_b"
        ).fetchone()["n"]
        assert joined == 40  # ids kept: every join survives
        payloads = conn.execute("SELECT payload::text AS p FROM event_outbox").fetchall()
        assert not any(v in row["p"] for row in payloads for v in originals if len(v) > 6)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        source = {
            p["id"]: p["rating"]
            for p in conn.execute("SELECT player_id AS id, rating FROM standings")
        }
    assert {p["id"]: p["rating"] for p in players} == source


def test_the_same_salt_gives_the_same_fakes(store, settings, populated):
    first = export_anonymized(settings.database_url, store, SALT)
    second = export_anonymized(settings.database_url, store, SALT)
    players = next(t for t in first.tables if t.name == "players")
    again = next(t for t in second.tables if t.name == "players")
    assert players.sha256 == again.sha256  # gzip of the same rows: byte for byte


def test_export_refuses_without_a_salt(store, settings):
    with pytest.raises(ValueError, match="LADDER_ANONYMIZE_SALT"):
        export_anonymized(settings.database_url, store, "")

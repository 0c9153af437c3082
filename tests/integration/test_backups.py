"""Backups on moto S3 and real Postgres: round trip, interruption, corruption, drills."""

import psycopg
import pytest

from ladder.backup import dump
from ladder.backup.drill import run_drill
from ladder.backup.dump import create_backup
from ladder.backup.errors import CorruptObject
from ladder.backup.manifest import list_backups, load_manifest
from ladder.backup.restore import restore_backup
from ladder.backup.retention import backups_to_keep
from ladder.backup.verify import checksums_match, verify_backup
from ladder.errors import Conflict, NotFound

pytestmark = pytest.mark.usefixtures("clean_state")


def test_backup_then_restore_gives_identical_data(store, settings, populated, create_database):
    manifest = create_backup(settings.database_url, store)
    names = [t.name for t in manifest.tables]
    assert {"players", "matches", "rating_history", "event_outbox", "jobs"} <= set(names)
    assert "recalc_players_staging" not in names  # unlogged scratch is not backed up
    # In foreign-key order: a table after those it references.
    assert names.index("ladders") < names.index("matches")
    assert names.index("players") < names.index("matches")
    assert names.index("seasons") < names.index("season_standings")
    assert checksums_match(settings.database_url, manifest) == []

    target = create_database("restore")
    restore_backup(store, manifest.id, target)
    assert checksums_match(target, manifest) == []
    assert schema_objects(target) == schema_objects(settings.database_url)
    with psycopg.connect(target) as conn:
        # Sequences continue after the restored data.
        (next_seq,) = conn.execute("SELECT nextval('match_seq')").fetchone()
        (max_seq,) = conn.execute("SELECT max(seq) FROM matches").fetchone()
        assert next_seq == max_seq + 1
    with pytest.raises(Conflict, match="not empty"):
        restore_backup(store, manifest.id, target)
    restore_backup(store, manifest.id, target, force=True)
    assert checksums_match(target, manifest) == []


def test_an_interrupted_backup_leaves_no_manifest_and_does_not_exist(
    store, settings, populated, monkeypatch
):
    real_dump = dump._dump_table

    def failing_dump(conn, store_, backup_id, table, rewrite):
        if table.name == "matches":
            raise ConnectionError("network went away mid-upload")
        return real_dump(conn, store_, backup_id, table, rewrite)

    monkeypatch.setattr(dump, "_dump_table", failing_dump)
    with pytest.raises(ConnectionError):
        create_backup(settings.database_url, store, backup_id="20260101T000000000000Z")
    assert not store.exists("backups/20260101T000000000000Z/manifest.json")
    assert list_backups(store) == []
    with pytest.raises(NotFound, match="no manifest"):
        restore_backup(store, "20260101T000000000000Z", settings.database_url)


def test_a_corrupted_object_fails_verify_and_restore_naming_it(
    store, settings, populated, create_database
):
    manifest = create_backup(settings.database_url, store)
    assert verify_backup(store, manifest.id)["ok"] is True
    victim = next(t for t in manifest.tables if t.name == "matches")
    store.client.put_object(Bucket=store.bucket, Key=victim.key, Body=b"not what was stored")

    result = verify_backup(store, manifest.id)
    assert result["ok"] is False
    assert any(victim.key in problem for problem in result["problems"])
    listed = list_backups(store)[0]
    assert listed["last_verification"]["ok"] is False
    with pytest.raises(CorruptObject, match=victim.key):
        restore_backup(store, manifest.id, create_database("corrupt"))


def test_the_drill_restores_the_latest_backup_and_records_success(store, settings, populated):
    manifest = create_backup(settings.database_url, store)
    record = run_drill(settings.database_url, store)
    assert record["ok"] is True
    assert record["backup_id"] == manifest.id
    assert record["mismatched_tables"] == []
    assert record["inconsistent_history"] == 0
    assert store.get_json(f"drills/{record['drill_at']}.json") == record
    with psycopg.connect(settings.database_url) as conn:
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (record["scratch_database"],)
        ).fetchone()[0]
    assert leftovers == 0


def test_the_drill_fails_a_backup_whose_history_disagrees_with_its_matches(
    store, settings, populated
):
    # History has no foreign keys (migration 0011): the drill checks it set-wise.
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT h.player_id, h.match_id FROM rating_history h"
            " JOIN matches m ON m.id = h.match_id ORDER BY m.seq LIMIT 2"
        ).fetchall()
        assert len(rows) == 2, "the populated database has a rated match"
        stranger = conn.execute(
            "SELECT id FROM players WHERE id NOT IN (%s, %s) LIMIT 1", [r[0] for r in rows]
        ).fetchone()[0]
        # One entry of the first match now names a player who did not play it.
        conn.execute(
            "UPDATE rating_history SET player_id = %s WHERE player_id = %s AND match_id = %s",
            (stranger, *rows[0]),
        )
    create_backup(settings.database_url, store)
    record = run_drill(settings.database_url, store)
    assert record["ok"] is False
    assert record["inconsistent_history"] == 1
    assert record["mismatched_tables"] == []


def test_a_failed_drill_is_recorded_not_raised(store, settings, populated):
    manifest = create_backup(settings.database_url, store)
    victim = manifest.tables[0]
    store.client.put_object(Bucket=store.bucket, Key=victim.key, Body=b"garbage")
    record = run_drill(settings.database_url, store)
    assert record["ok"] is False
    assert victim.key in record["error"]
    assert store.get_json(f"drills/{record['drill_at']}.json")["ok"] is False


def test_retention_keeps_exactly_the_daily_and_weekly_backups():
    ids = [f"202611{day:02d}T0{hour}0000000000Z" for day in range(1, 29) for hour in (1, 5)]
    keep = backups_to_keep(ids, daily=3, weekly=2)
    # The newest of each of the last 3 days, and of each of the last 2 ISO weeks.
    assert keep == {
        "20261128T050000000000Z",  # day 28 (week 48, newest of that week too)
        "20261127T050000000000Z",
        "20261126T050000000000Z",
        "20261122T050000000000Z",  # Sunday: the newest of week 47
    }


def test_the_cli_creates_lists_verifies_and_restores(
    store, settings, populated, create_database, monkeypatch, capsys
):
    from ladder.cli import main
    from ladder.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", settings.aws_endpoint_url)
    monkeypatch.setenv("LADDER_BACKUP_BUCKET", store.bucket)
    get_settings.cache_clear()
    try:
        assert main(["backup", "create"]) == 0
        out = capsys.readouterr()
        backup_id = out.out.strip()
        assert "backup: 100%" in out.err  # progress goes to stderr, the id to stdout
        assert main(["backup", "list"]) == 0
        assert capsys.readouterr().out.startswith(f"{backup_id}  v")
        assert main(["backup", "verify", backup_id]) == 0
        target = create_database("cli_restore")
        assert main(["backup", "restore", backup_id, "--target-url", target]) == 0
        assert checksums_match(target, load_manifest(store, backup_id)) == []
    finally:
        get_settings.cache_clear()


def test_admin_backups_start_a_backup_job_and_list_complete_backups(
    client, admin, writer, resources
):
    from ladder.job_handlers import handle
    from ladder.jobs.envelope import Envelope

    assert client.post("/v1/admin/backups", headers=writer).status_code == 403
    started = client.post("/v1/admin/backups", headers=admin)
    assert started.status_code == 202
    job_id = started.json()["job_id"]
    result = handle(resources, Envelope(type="backup.create", id=job_id))
    listed = client.get("/v1/admin/backups", headers=admin).json()
    assert result["backup_id"] in [b["id"] for b in listed["items"]]
    status = client.get(f"/v1/admin/jobs/{job_id}", headers=admin).json()
    assert (status["status"], status["result"]["backup_id"]) == ("succeeded", result["backup_id"])


def test_admin_aws_calls_that_fail_are_503_problems(settings, admin):
    """S3 or SQS down (here: nothing listens at the endpoint) is a dependency's outage,
    answered as one, not a 500."""
    from fastapi.testclient import TestClient

    from ladder.api.app import create_app
    from ladder.resources import Resources
    from ladder_dev.local_services import free_port

    gone = settings.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    res = Resources.from_settings(gone)
    try:
        with TestClient(create_app(res)) as client:
            for path in ("/v1/admin/backups", "/v1/admin/queues"):
                response = client.get(path, headers=admin)
                assert response.status_code == 503, (path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["retry-after"] == "5"
    finally:
        res.close()


def test_a_200_mb_table_is_backed_up_with_bounded_memory(store, settings, db):
    import json
    import subprocess
    import sys

    db.execute(
        "INSERT INTO event_outbox (type, topics, payload)"
        " SELECT 'leaderboard.changed', ARRAY['leaderboard'],"
        " jsonb_build_object('reason', (SELECT string_agg(md5(random()::text || g || i), '')"
        "                                FROM generate_series(1, 30) i), 'players', '[]'::jsonb)"
        " FROM generate_series(1, 200000) g"
    )
    size = db.execute("SELECT pg_total_relation_size('event_outbox') AS s").fetchone()["s"]
    assert size > 200 * 1024 * 1024
    script = """
import json, sys
from ladder.backup.dump import create_backup
from ladder.backup.store import Store
from ladder.settings import Settings
def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
settings = Settings.model_validate_json(sys.argv[1])
store = Store(settings)
before = kib("VmRSS:")
manifest = create_backup(settings.database_url, store)
rows = sum(t.rows for t in manifest.tables)
print(json.dumps({"before": before, "peak": kib("VmHWM:"), "rows": rows}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, store_settings(settings, store).model_dump_json()],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["rows"] >= 200_000
    growth_mib = (measured["peak"] - measured["before"]) / 1024
    print(f"backup of a {size >> 20} MiB table: peak RSS grew {growth_mib:.1f} MiB")
    assert growth_mib < 64, f"peak RSS grew {growth_mib:.0f} MiB for a {size >> 20} MiB table"


def store_settings(settings, store):
    return settings.model_copy(update={"backup_bucket": store.bucket})


def schema_objects(url: str) -> tuple[set, set]:
    """Every index and constraint definition: a restore rebuilds them all."""
    with psycopg.connect(url) as conn:
        indexes = set(
            conn.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            ).fetchall()
        )
        constraints = set(
            conn.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
            ).fetchall()
        )
    return indexes, constraints


def test_the_newest_complete_backups_age_ignores_exports_and_unfinished_ones(
    settings, store, populated
):
    from datetime import timedelta

    from ladder.backup.dump import create_backup
    from ladder.backup.manifest import latest_backup_age

    assert latest_backup_age(store) is None
    manifest = create_backup(settings.database_url, store)
    later = manifest.started_at + timedelta(hours=30)
    assert latest_backup_age(store, now=later) == 30 * 3600
    store.put_json("backups/99991231T000000Z/users.copy.gz.part", {})  # unfinished: no manifest
    assert latest_backup_age(store, now=later) == 30 * 3600


def test_ten_backup_requests_make_one_backup_job(client, admin, db):
    answers = [client.post("/v1/admin/backups", headers=admin) for _ in range(10)]
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert (
        db.execute("SELECT count(*) AS n FROM jobs WHERE type = 'backup.create'").fetchone()["n"]
        == 1
    )
    db.execute("UPDATE jobs SET status = 'succeeded'")
    after = client.post("/v1/admin/backups", headers=admin).json()["job_id"]
    assert after != answers[0].json()["job_id"]  # once it finished, a new one

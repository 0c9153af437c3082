import threading

import psycopg
import pytest

from ladder.db import migrations
from ladder.db.migrations import MigrationError, current_version, latest_version, migrate


def test_migrating_twice_applies_nothing_the_second_time(create_database):
    url = create_database("twice")
    assert migrate(url) == list(range(1, latest_version() + 1))
    assert migrate(url) == []
    with psycopg.connect(url) as conn:
        assert current_version(conn) == latest_version()


def test_two_processes_migrating_at_once_apply_each_migration_once(create_database):
    url = create_database("race")
    results, errors = [], []

    def run():
        try:
            results.append(migrate(url))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=len) == [[], [], [], list(range(1, latest_version() + 1))]


def test_an_empty_database_is_at_version_zero(create_database):
    with psycopg.connect(create_database("empty")) as conn:
        assert current_version(conn) == 0


def test_a_changed_applied_migration_is_refused(create_database, monkeypatch):
    url = create_database("changed")
    migrate(url)
    original = migrations.available_migrations

    def edited():
        first, *rest = original()
        return [migrations.Migration(first.version, first.name, first.sql + "\n-- edit"), *rest]

    monkeypatch.setattr(migrations, "available_migrations", edited)
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(url)


def test_on_rds_the_relay_gets_an_iam_login_acting_as_the_migrating_user(create_database):
    """Where `rds_iam` exists (RDS), migration 0005 creates `ladder_relay`; elsewhere nothing."""
    plain = create_database("nords")
    migrate(plain)
    with psycopg.connect(plain, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone():
            pytest.skip("this server already has an rds_iam role")
        assert (
            conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'ladder_relay'").fetchone() is None
        )
        conn.execute("CREATE ROLE rds_iam")
        user = conn.execute("SELECT current_user").fetchone()[0]
    try:
        url = create_database("rds")
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            granted = conn.execute(
                "SELECT r.rolname FROM pg_auth_members m"
                " JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member"
                " WHERE u.rolname = 'ladder_relay'"
            ).fetchall()
            assert sorted(g[0] for g in granted) == sorted(["rds_iam", user])
            can_login = conn.execute(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'ladder_relay'"
            ).fetchone()[0]
            assert can_login is True
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS ladder_relay")
            conn.execute("DROP ROLE rds_iam")

import threading

import psycopg
import pytest

from ladder.db import migrations
from ladder.db.errors import MigrationError
from ladder.db.migrations import current_version, latest_version, migrate


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

import pydantic
import pytest

from ladder.events import UndeclaredEventType, write_event


def test_an_undeclared_event_type_raises_and_writes_nothing(db):
    with pytest.raises(UndeclaredEventType, match=r"player\.renamed"):
        write_event(db, "player.renamed", {"id": "x"})
    assert db.execute("SELECT count(*) AS n FROM event_outbox").fetchone()["n"] == 0


def test_a_payload_that_does_not_fit_its_schema_is_rejected(db):
    with pytest.raises(pydantic.ValidationError):
        write_event(db, "recalculation.completed", {"job_id": "not-a-uuid"})
    assert db.execute("SELECT count(*) AS n FROM event_outbox").fetchone()["n"] == 0


def test_events_roll_back_with_the_write_that_raised_them(db, resources):
    import uuid

    def failing_write(conn):
        write_event(
            conn,
            "recalculation.completed",
            {"job_id": str(uuid.uuid4()), "matches": 0, "players": 0},
        )
        raise RuntimeError("the write failed after its event")

    with pytest.raises(RuntimeError):
        resources.db.run(failing_write)
    assert db.execute("SELECT count(*) AS n FROM event_outbox").fetchone()["n"] == 0

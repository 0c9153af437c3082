"""Writing events into the outbox, inside the caller's transaction.

An event exists exactly when the change it describes committed; the relay
publishes it later.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from ladder.events.registry import event_type


def write_event(conn: psycopg.Connection, type_name: str, payload: BaseModel | dict) -> int:
    """Validate `payload` against the declared schema and insert it; return the outbox id."""
    declared = event_type(type_name)
    data = declared.schema.model_validate(
        payload.model_dump() if isinstance(payload, BaseModel) else payload
    )
    row = conn.execute(
        "INSERT INTO event_outbox (type, topics, payload) VALUES (%s, %s, %s) RETURNING id",
        (declared.name, declared.topics(data), Jsonb(data.model_dump(mode="json"))),
    ).fetchone()
    return row["id"]


def write_events(conn: psycopg.Connection, type_name: str, payloads: list[dict]) -> None:
    """`write_event` for many payloads of one type, in one pipelined statement."""
    declared = event_type(type_name)
    rows = []
    for payload in payloads:
        data = declared.schema.model_validate(payload)
        rows.append((declared.name, declared.topics(data), Jsonb(data.model_dump(mode="json"))))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO event_outbox (type, topics, payload) VALUES (%s, %s, %s)", rows
        )

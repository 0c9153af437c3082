"""Domain events: the registry of declared types and the transactional outbox."""

from ladder.events.errors import UndeclaredEventType
from ladder.events.outbox import write_event, write_events
from ladder.events.registry import EVENT_TYPES, EventType, event_type

__all__ = [
    "EVENT_TYPES",
    "EventType",
    "UndeclaredEventType",
    "event_type",
    "write_event",
    "write_events",
]

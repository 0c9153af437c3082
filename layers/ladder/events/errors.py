"""The events package's errors."""


class UndeclaredEventType(LookupError):
    """An event type that the registry does not declare."""

"""The stream service's errors."""


class HistoryGone(Exception):
    """The events after a client's position are in neither Redis nor Postgres."""

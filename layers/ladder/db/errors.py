"""The database package's errors."""


class DatabaseUnavailable(Exception):
    """Postgres did not answer in time; the API turns this into a 503."""

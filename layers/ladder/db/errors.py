"""The database package's errors."""


class DatabaseUnavailable(Exception):
    """Postgres did not answer in time (`ladder.problems`: a 503)."""


class MigrationError(Exception):
    """The database's migration history disagrees with the code's."""

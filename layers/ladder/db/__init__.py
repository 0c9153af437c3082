"""Postgres access: the connection pool and the migrations."""

from ladder.db.connection import Database
from ladder.db.errors import DatabaseUnavailable

__all__ = ["Database", "DatabaseUnavailable"]

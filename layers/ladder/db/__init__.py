"""Postgres access: the connection pool and the migrations."""

from ladder.db.connection import Database, DatabaseUnavailable

__all__ = ["Database", "DatabaseUnavailable"]

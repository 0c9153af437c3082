"""The process's shared resources, built from settings without any I/O.

Connections open on first use, so importing a handler (and a cold start that
serves /health) touches neither Postgres nor Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from ladder.auth import TokenVerifier
from ladder.cache import Cache
from ladder.db import Database
from ladder.rank_index.store import RankIndex
from ladder.ratings.elo import RatingRules
from ladder.redis_clients import redis_client
from ladder.settings import Settings


@dataclass
class Resources:
    settings: Settings
    db: Database
    cache: Cache
    rules: RatingRules
    verifier: TokenVerifier

    @property
    def index(self) -> RankIndex:
        """The ladders' rank index, in the cache's Redis (and behind its circuit)."""
        return RankIndex(self.cache)

    @classmethod
    def from_settings(cls, settings: Settings) -> Resources:
        return cls(
            settings=settings,
            db=Database(
                settings.database_url,
                pool_size=settings.db_pool_size,
                timeout=settings.db_connect_timeout,
            ),
            cache=Cache(
                lambda: redis_client(settings, timeout=settings.redis_timeout),
                prefix=settings.redis_prefix,
                retry_after=settings.redis_retry_after,
            ),
            rules=RatingRules.from_settings(settings),
            verifier=TokenVerifier(
                mode=settings.auth_mode,
                secret=settings.jwt_secret,
                issuer=settings.jwt_issuer,
                client_ids=settings.client_ids,
                admin_client_ids=settings.admin_client_ids,
            ),
        )

    def close(self) -> None:
        self.db.close()
        self.cache.close()

"""Every Redis client ladder makes, in one place: the URL and the AUTH token from the
settings, and timeouts and keepalives always, so a half-open socket fails a call
instead of hanging it. Each caller says how long its calls may take."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladder.credentials import redis_password
from ladder.settings import Settings

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aioredis


def _options(settings: Settings, timeout: float, name: str | None) -> dict:
    return {
        "password": redis_password(settings),
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": min(timeout, 5.0),
        "socket_keepalive": True,
        "health_check_interval": 30,
        **({"client_name": name} if name else {}),
    }


def redis_client(settings: Settings, *, timeout: float, name: str | None = None) -> redis.Redis:
    import redis

    return redis.Redis.from_url(settings.redis_url, **_options(settings, timeout, name))


def async_redis_client(
    settings: Settings, *, timeout: float, name: str | None = None
) -> aioredis.Redis:
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(settings.redis_url, **_options(settings, timeout, name))

"""Bearer JWT verification and scopes.

Locally tokens are HS256 with a development secret (`ladder token`); in AWS
they are Cognito client-credentials access tokens verified against the
issuer's JWKS. Cognito writes resource-server scopes as `ladder/write`; they
are read as `ladder:write`, the spec's name.

PyJWT (and the cryptography it pulls in for RS256) is imported on first
verification, not at cold start: /health and reads never need it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

from ladder.errors import Forbidden, Unauthorized

SCOPE_WRITE = "ladder:write"
SCOPE_ADMIN = "ladder:admin"
KNOWN_SCOPES = (SCOPE_WRITE, SCOPE_ADMIN)


@dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this operation needs the scope {scope!r}")


def _normalize_scope(scope: str) -> str:
    return scope.replace("/", ":", 1) if scope.startswith("ladder/") else scope


class TokenVerifier:
    def __init__(
        self,
        *,
        mode: str,
        secret: str,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> None:
        if mode == "jwks" and not issuer:
            raise ValueError("LADDER_JWT_ISSUER is required when LADDER_AUTH_MODE=jwks")
        self.mode = mode
        self._secret = secret
        self._issuer = issuer
        self._audience = audience

    @cached_property
    def _jwks(self):
        import jwt

        return jwt.PyJWKClient(f"{self._issuer}/.well-known/jwks.json", cache_keys=True)

    def verify(self, token: str | None) -> Principal:
        """The caller a bearer token names, or `Unauthorized`."""
        import jwt

        if not token:
            raise Unauthorized("send 'Authorization: Bearer <token>'")
        try:
            if self.mode == "jwks":
                key = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256"]
            else:
                key, algorithms = self._secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        if self._audience and self._audience not in (claims.get("aud"), claims.get("client_id")):
            raise Unauthorized("invalid token: wrong audience")
        scopes = claims.get("scope", "")
        if not isinstance(scopes, str):
            raise Unauthorized("invalid token: 'scope' must be a space-separated string")
        return Principal(
            subject=str(claims["sub"]),
            scopes=frozenset(_normalize_scope(s) for s in scopes.split()),
        )


def issue_dev_token(
    secret: str, scopes: list[str], *, subject: str = "ladder-cli", ttl: int = 3600
) -> str:
    """An HS256 token the local stack accepts (never valid in AWS stages)."""
    import jwt

    now = int(time.time())
    claims = {"sub": subject, "scope": " ".join(scopes), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")

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

from ladder.errors import Forbidden, ServiceUnavailable, Unauthorized
from ladder.settings import DEV_CLIENT_ID

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


# Cognito issues access tokens for at most a day; an `exp` further out is forged
# or broken, and an unbounded one would never expire.
MAX_TOKEN_LIFETIME = 24 * 3600
LEEWAY = 60  # seconds of clock skew tolerated on `exp`
KEY_REFRESH_SECONDS = 60  # the least time between two fetches of the issuer's keys
MAX_SUBJECT_LENGTH = 128  # Cognito's `sub` and client ids are far shorter


def _issuer_keys(url: str):
    import jwt

    # An unknown `kid` refetches the key set (Cognito rotates keys) at most once per
    # cooldown, so forged key ids cannot turn every request into a request to the issuer.
    return jwt.PyJWKClient(url, cache_keys=True, cooldown_duration=KEY_REFRESH_SECONDS)


def _is_subject(sub: object) -> bool:
    """A `sub` that can name a caller everywhere it is stored: printable (no NUL, which
    Postgres text refuses) and valid UTF-8 (no lone surrogates), bounded, not blank."""
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUBJECT_LENGTH:
        return False
    try:
        sub.encode()
    except UnicodeEncodeError:
        return False
    return sub.isprintable()


class TokenVerifier:
    """Verifies Cognito access tokens (or, locally, HS256 tokens shaped like them).

    A token is accepted only if it is an access token (`token_use`), from an
    allowed app client (`client_id`), with a bounded non-empty `sub` and a
    numeric `exp` within a day. `ladder:admin` counts only from an operator
    client: Cognito already refuses that scope to game servers, and this holds
    even if a client's allowed scopes were widened by mistake.
    """

    def __init__(
        self,
        *,
        mode: str,
        secret: str,
        issuer: str | None = None,
        client_ids: frozenset[str] = frozenset(),
        admin_client_ids: frozenset[str] = frozenset(),
    ) -> None:
        if mode == "jwks" and not issuer:
            raise ValueError("LADDER_JWT_ISSUER is required when LADDER_AUTH_MODE=jwks")
        self.mode = mode
        self._secret = secret
        self._issuer = issuer
        self._client_ids = client_ids
        self._admin_client_ids = admin_client_ids

    @cached_property
    def _jwks(self):
        return _issuer_keys(f"{self._issuer}/.well-known/jwks.json")

    def verify(self, token: str | None) -> Principal:
        """The caller a bearer token names, or `Unauthorized` (`ServiceUnavailable` when
        the issuer's keys cannot be fetched: the token may well be valid)."""
        import jwt

        if not token:
            raise Unauthorized("send 'Authorization: Bearer <token>'")
        invalid = (jwt.PyJWTError, ValueError, TypeError, OverflowError)
        try:
            if self.mode == "jwks":
                key, algorithms = self._jwks.get_signing_key_from_jwt(token).key, ["RS256"]
            else:
                key, algorithms = self._secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise ServiceUnavailable(f"cannot reach the token issuer's keys: {exc}") from None
        except invalid as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        self._check_claims(claims)
        scopes = {_normalize_scope(s) for s in claims.get("scope", "").split()}
        if claims["client_id"] not in self._admin_client_ids:
            scopes.discard(SCOPE_ADMIN)
        return Principal(subject=claims["sub"], scopes=frozenset(scopes))

    def _check_claims(self, claims: dict) -> None:
        exp, sub = claims["exp"], claims["sub"]
        # PyJWT compares int(exp), so "9999999999" would pass; the spec wants a number.
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise Unauthorized("invalid token: 'exp' must be a number")
        if exp > time.time() + MAX_TOKEN_LIFETIME + LEEWAY:
            raise Unauthorized("invalid token: 'exp' is more than a day away")
        if not _is_subject(sub):
            raise Unauthorized(
                f"invalid token: 'sub' must be a non-empty printable string of at most "
                f"{MAX_SUBJECT_LENGTH} characters"
            )
        if claims.get("token_use") != "access":
            raise Unauthorized("invalid token: not an access token ('token_use' must be 'access')")
        client = claims.get("client_id")
        if not isinstance(client, str) or client not in self._client_ids:
            raise Unauthorized("invalid token: issued to an app client this API does not accept")
        if not isinstance(claims.get("scope", ""), str):
            raise Unauthorized("invalid token: 'scope' must be a space-separated string")


def issue_dev_token(
    secret: str,
    scopes: list[str],
    *,
    subject: str = "ladder-cli",
    ttl: int = 3600,
    client_id: str = DEV_CLIENT_ID,
) -> str:
    """An HS256 access token the local stack accepts (AWS stages refuse HS256)."""
    import jwt

    now = int(time.time())
    claims = {
        "sub": subject,
        "scope": " ".join(scopes),
        "token_use": "access",
        "client_id": client_id,
        "iat": now,
        "exp": now + min(ttl, MAX_TOKEN_LIFETIME),
    }
    return jwt.encode(claims, secret, algorithm="HS256")

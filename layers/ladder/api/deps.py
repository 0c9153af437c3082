"""FastAPI dependencies: the process's resources and the caller's scopes."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ladder.auth import Principal
from ladder.resources import Resources

_bearer = HTTPBearer(auto_error=False, description="JWT with scopes ladder:write / ladder:admin")


def resources(request: Request) -> Resources:
    return request.app.state.resources


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that yields the verified caller, who must hold `scope`."""

    def dependency(
        credentials: HTTPAuthorizationCredentials | None = Security(_bearer),
        res: Resources = Depends(resources),
    ) -> Principal:
        principal = res.verifier.verify(credentials.credentials if credentials else None)
        principal.require(scope)
        return principal

    return dependency

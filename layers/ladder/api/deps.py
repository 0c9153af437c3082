"""FastAPI dependencies: the process's resources and the verified caller.

Routes take them as annotated types (`res: ResourcesDep`, `principal: Writer`),
so no signature repeats a `Depends(...)` default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ladder.auth import SCOPE_ADMIN, SCOPE_WRITE, Principal
from ladder.resources import Resources

_bearer = HTTPBearer(auto_error=False, description="JWT with scopes ladder:write / ladder:admin")


def resources(request: Request) -> Resources:
    return request.app.state.resources


ResourcesDep = Annotated[Resources, Depends(resources)]


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that yields the verified caller, who must hold `scope`."""

    def dependency(
        res: ResourcesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> Principal:
        principal = res.verifier.verify(credentials.credentials if credentials else None)
        principal.require(scope)
        return principal

    return dependency


# One callable per scope, so FastAPI verifies the token once per request however many
# places (a router's guard, a handler that needs the caller) depend on it.
writer = require_scope(SCOPE_WRITE)
administrator = require_scope(SCOPE_ADMIN)

Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(administrator)]

"""Starlette's CORS, with a refused preflight answered as problem+json like any other 4xx
(Starlette answers it in plain text)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request

from ladder.api.problems import problem_response, public_base_url


class ProblemCORS(CORSMiddleware):
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code == 400:
                    cors = {
                        k: v
                        for k, v in response.headers.items()
                        if k.startswith("access-control-") or k == "vary"
                    }
                    response = problem_response(
                        public_base_url(Request(scope)),
                        "bad-request",
                        f"{bytes(response.body).decode()} (this API allows GET from browsers)",
                        cors,
                    )
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

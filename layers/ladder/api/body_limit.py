"""Request bodies are at most 64 KiB: a larger one is a 413 before anything parses it.

Plain ASGI, outside the app: the body is read (at most the limit plus one chunk)
before routing, authentication or JSON parsing, so a 10 MB body costs at most
the limit in memory and nothing in CPU. A declared Content-Length over the
limit is refused without reading at all.
"""

from __future__ import annotations

from starlette.requests import Request

from ladder.api.problems import problem_response, public_base_url

MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, send)
                return
            more = message.get("more_body", False)
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, scope, send) -> None:
        response = problem_response(
            public_base_url(Request(scope)),
            "payload-too-large",
            f"request bodies are at most {self.max_bytes} bytes",
        )
        await response(scope, None, send)


def _replay(body: bytes, receive):
    """`receive` that first hands over the body already read, then the real one."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

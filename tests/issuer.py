"""A Cognito-like token issuer on loopback: its JWKS over HTTP, RS256 access tokens."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_ID = "k1"


class LocalIssuer:
    """Serves `/.well-known/jwks.json` at `url` and signs tokens shaped like Cognito's."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwks = json.dumps({"keys": [{**public, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]})
        issuer = self
        self.fetches = 0  # how often the key set was asked for

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                found = self.path == "/.well-known/jwks.json"
                issuer.fetches += found
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(jwks.encode())

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def token(self, client_id: str, scope: str, *, kid: str = KEY_ID, **claims) -> str:
        """A client-credentials access token as Cognito issues it; `claims` override."""
        body = {
            "sub": client_id,  # Cognito's sub for client credentials is the client id
            "iss": self.url,
            "client_id": client_id,
            "token_use": "access",
            "scope": scope,
            "iat": int(time.time()),
            "exp": int(time.time()) + 3600,
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

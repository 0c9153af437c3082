import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ladder.auth import TokenVerifier, issue_dev_token
from ladder.errors import Forbidden, Unauthorized

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_a_dev_token_carries_its_scopes_and_subject():
    verifier = TokenVerifier(mode="hs256", secret=SECRET)
    principal = verifier.verify(issue_dev_token(SECRET, ["ladder:write"], subject="server-7"))
    assert principal.subject == "server-7"
    principal.require("ladder:write")
    with pytest.raises(Forbidden, match="ladder:admin"):
        principal.require("ladder:admin")


@pytest.mark.parametrize(
    "token",
    [None, "", "not.a.jwt", jwt.encode({"sub": "x", "scope": "ladder:write"}, SECRET)],
)
def test_missing_malformed_or_unexpiring_tokens_are_unauthorized(token):
    with pytest.raises(Unauthorized):
        TokenVerifier(mode="hs256", secret=SECRET).verify(token)


def test_an_unsigned_token_is_refused():
    unsigned = jwt.encode(
        {"sub": "x", "scope": "ladder:admin", "exp": time.time() + 60}, None, algorithm="none"
    )
    with pytest.raises(Unauthorized):
        TokenVerifier(mode="hs256", secret=SECRET).verify(unsigned)


@pytest.fixture(scope="module")
def issuer():
    """A Cognito-like issuer on loopback serving its JWKS, and its signing key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", key
    server.shutdown()


def cognito_token(key, iss, scope, **extra):
    claims = {"sub": "client-1", "iss": iss, "scope": scope, "exp": time.time() + 60, **extra}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def test_cognito_scopes_are_read_with_the_spec_names(issuer):
    url, key = issuer
    verifier = TokenVerifier(mode="jwks", secret="", issuer=url, audience="client-1")
    principal = verifier.verify(
        cognito_token(key, url, "ladder/write ladder/admin", client_id="client-1")
    )
    assert principal.scopes == {"ladder:write", "ladder:admin"}


def test_jwks_mode_refuses_other_issuers_audiences_and_hs256(issuer):
    url, key = issuer
    verifier = TokenVerifier(mode="jwks", secret=SECRET, issuer=url, audience="client-1")
    with pytest.raises(Unauthorized):
        verifier.verify(cognito_token(key, "https://evil.example", "ladder/write"))
    with pytest.raises(Unauthorized, match="audience"):
        verifier.verify(cognito_token(key, url, "ladder/write", client_id="other"))
    with pytest.raises(Unauthorized):
        verifier.verify(issue_dev_token(SECRET, ["ladder:write"]))


def test_jwks_mode_needs_an_issuer():
    with pytest.raises(ValueError, match="ISSUER"):
        TokenVerifier(mode="jwks", secret="")

"""Bearer tokens: only access tokens of allowed app clients, with sane claims; admin only
from operators. Every malformed token is a 401 (Unauthorized), never a crash."""

import time

import jwt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ladder.auth import MAX_SUBJECT_LENGTH, TokenVerifier, issue_dev_token
from ladder.errors import Forbidden, ServiceUnavailable, Unauthorized
from ladder.settings import DEV_CLIENT_ID
from tests.issuer import LocalIssuer

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
GAME_SERVER, OPERATOR = "game-server-client", "operator-client"


def hs256(**claims) -> str:
    now = int(time.time())
    body = {
        "sub": "server-7",
        "scope": "ladder:write",
        "token_use": "access",
        "client_id": DEV_CLIENT_ID,
        "exp": now + 3600,  # made at collection: must outlive the session's other tests
        **claims,
    }
    return jwt.encode({k: v for k, v in body.items() if v is not None}, SECRET, "HS256")


LOCAL = TokenVerifier(
    mode="hs256",
    secret=SECRET,
    client_ids=frozenset({DEV_CLIENT_ID}),
    admin_client_ids=frozenset({DEV_CLIENT_ID}),
)


def test_a_dev_token_carries_its_scopes_and_subject():
    principal = LOCAL.verify(issue_dev_token(SECRET, ["ladder:write"], subject="server-7"))
    assert principal.subject == "server-7"
    principal.require("ladder:write")
    with pytest.raises(Forbidden, match="ladder:admin"):
        principal.require("ladder:admin")


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (None, "Bearer"),
        ("", "Bearer"),
        ("not.a.jwt", "invalid token"),
        (hs256(exp=None), "exp"),
        (hs256(exp="9999999999"), "'exp' must be a number"),
        (hs256(exp=10**30), "more than a day"),
        (hs256(exp=True), "invalid token"),
        (hs256(sub=""), "'sub'"),
        (hs256(sub="   "), "'sub'"),
        (hs256(sub="x" * 3000), "'sub'"),
        (hs256(sub=7), "invalid token"),
        (hs256(sub="a\x00b"), "'sub'"),
        (hs256(sub="\udc80x"), "'sub'"),
        (hs256(sub="line\nbreak"), "'sub'"),
        (hs256(token_use="id"), "not an access token"),
        (hs256(token_use=None), "not an access token"),
        (hs256(client_id="someone-else"), "app client"),
        (hs256(client_id=None), "app client"),
        (hs256(client_id=["ladder-local"]), "app client"),
        (hs256(scope=["ladder:write"]), "'scope'"),
    ],
)
def test_bad_tokens_are_unauthorized_with_a_reason(token, why):
    with pytest.raises(Unauthorized, match=why):
        LOCAL.verify(token)


def test_an_unsigned_token_is_refused():
    unsigned = jwt.encode(
        {"sub": "x", "scope": "ladder:admin", "exp": time.time() + 60}, None, algorithm="none"
    )
    with pytest.raises(Unauthorized):
        LOCAL.verify(unsigned)


def test_the_longest_subject_allowed_is_accepted():
    assert LOCAL.verify(hs256(sub="s" * MAX_SUBJECT_LENGTH)).subject == "s" * MAX_SUBJECT_LENGTH


CLAIM_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["sub", "exp", "scope", "token_use", "client_id", "iat", "nbf", "iss"]),
        CLAIM_VALUES,
    )
)
def test_any_claims_give_a_principal_or_unauthorized(claims):
    try:
        token = jwt.encode(claims, SECRET, "HS256")
    except TypeError:  # PyJWT will not even encode some (a non-string `iss`)
        assume(False)
    try:
        principal = LOCAL.verify(token)
    except Unauthorized:
        return
    assert principal.subject.strip()
    assert len(principal.subject) <= MAX_SUBJECT_LENGTH


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_header_value_gives_unauthorized(raw):
    with pytest.raises(Unauthorized):
        LOCAL.verify(raw)


@pytest.fixture(scope="module")
def issuer():
    issuer = LocalIssuer()
    yield issuer
    issuer.close()


@pytest.fixture(scope="module")
def cognito(issuer):
    return TokenVerifier(
        mode="jwks",
        secret="",
        issuer=issuer.url,
        client_ids=frozenset({GAME_SERVER, OPERATOR}),
        admin_client_ids=frozenset({OPERATOR}),
    )


def test_cognito_scopes_are_read_with_the_spec_names(issuer, cognito):
    principal = cognito.verify(issuer.token(OPERATOR, "ladder/write ladder/admin"))
    assert principal.scopes == {"ladder:write", "ladder:admin"}
    assert principal.subject == OPERATOR


def test_admin_counts_only_from_the_operator_client(issuer, cognito):
    principal = cognito.verify(issuer.token(GAME_SERVER, "ladder/write ladder/admin"))
    assert principal.scopes == {"ladder:write"}
    with pytest.raises(Forbidden):
        principal.require("ladder:admin")


def test_jwks_mode_refuses_other_issuers_clients_id_tokens_and_hs256(issuer, cognito):
    with pytest.raises(Unauthorized):
        cognito.verify(issuer.token(GAME_SERVER, "ladder/write", iss="https://evil.example"))
    with pytest.raises(Unauthorized, match="app client"):
        cognito.verify(issuer.token("other", "ladder/write"))
    with pytest.raises(Unauthorized, match="access token"):
        cognito.verify(issuer.token(GAME_SERVER, "ladder/write", token_use="id"))
    with pytest.raises(Unauthorized):
        cognito.verify(issue_dev_token(SECRET, ["ladder:write"], client_id=GAME_SERVER))


def test_jwks_mode_needs_an_issuer():
    with pytest.raises(ValueError, match="ISSUER"):
        TokenVerifier(mode="jwks", secret="")


def test_forged_key_ids_do_not_make_every_request_fetch_the_issuers_keys(issuer):
    verifier = TokenVerifier(
        mode="jwks", secret="", issuer=issuer.url, client_ids=frozenset({GAME_SERVER})
    )
    verifier.verify(issuer.token(GAME_SERVER, "ladder/write"))
    fetched = issuer.fetches
    for i in range(20):
        with pytest.raises(Unauthorized, match="signing key"):
            verifier.verify(issuer.token(GAME_SERVER, "ladder/write", kid=f"forged-{i}"))
    assert issuer.fetches <= fetched + 1


def test_an_issuer_that_does_not_answer_is_a_503_not_a_401():
    gone = LocalIssuer()
    gone.close()
    verifier = TokenVerifier(mode="jwks", secret="", issuer=gone.url)
    with pytest.raises(ServiceUnavailable, match="token issuer"):
        verifier.verify(gone.token(GAME_SERVER, "ladder/write"))

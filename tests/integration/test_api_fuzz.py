"""Schemathesis over the OpenAPI schema: no generated request, valid or not, gets a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from ladder.api.app import create_app
from ladder.resources import Resources
from ladder.settings import Settings
from tests.conftest import bearer

EVERY_SCOPE = bearer("ladder:write", "ladder:admin")

# Building the app does no I/O; each test points it at the session's database.
app = create_app(Resources.from_settings(Settings()))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(autouse=True)
def _use_test_resources(resources):
    app.state.resources = resources


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_gets_a_server_error(case):
    # Our valid token replaces the generated one, so bodies reach validation and the database.
    response = case.call(headers={**(case.headers or {}), **EVERY_SCOPE})
    assert response.status_code < 500, (case.as_curl_command(), response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"][0] == "application/problem+json", response.text

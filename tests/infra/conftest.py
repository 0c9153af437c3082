"""Template tests run on each stage that differs (the synthesized stages are session
fixtures of tests/conftest.py, shared with the tests that run functions as deployed)."""

from __future__ import annotations

import pytest

from tests.synthesized import Synthesized


@pytest.fixture(params=["prod", "preview"])
def stage(request) -> Synthesized:
    return request.getfixturevalue(request.param)

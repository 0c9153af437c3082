"""Per-route request metrics (EMF) from the API, as CloudWatch receives them."""

import json

import pytest
from fastapi.testclient import TestClient

from ladder.api.app import create_app
from ladder.resources import Resources
from tests.conftest import bearer


@pytest.fixture
def metered(settings, clean_state, capsys):
    res = Resources.from_settings(settings.model_copy(update={"request_metrics": True}))
    with TestClient(create_app(res)) as client:
        capsys.readouterr()
        yield client
    res.close()


def _records(capsys) -> list[dict]:
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if '"_aws"' in line]


def test_each_request_is_one_record_with_its_route_template_and_outcome(metered, capsys):
    metered.get("/v1/players/00000000-0000-0000-0000-000000000000")  # 404
    metered.post(
        "/v1/players", json={"handle": "m_one", "display_name": "M"}, headers=bearer("ladder:write")
    )
    metered.get("/v1/leaderboard")
    records = _records(capsys)
    assert [r["route"] for r in records] == [
        "GET /v1/players/{player_id}",
        "POST /v1/players",
        "GET /v1/leaderboard",
    ]
    # EMF values are lists (Powertools may batch several values per record).
    outcomes = [(r["ClientErrors"], r["ServerErrors"]) for r in records]
    assert outcomes == [([1.0], [0.0]), ([0.0], [0.0]), ([0.0], [0.0])]
    (directive,) = records[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Ladder"
    assert [sorted(d) for d in directive["Dimensions"]] == [["route", "service"]]
    assert {m["Name"] for m in directive["Metrics"]} == {
        "RequestLatency",
        "ClientErrors",
        "ServerErrors",
    }
    assert all(r["RequestLatency"][0] > 0 for r in records)


def test_an_unknown_path_is_counted_as_unmatched_not_as_a_new_route(metered, capsys):
    metered.get("/no/such/path/12345")
    (record,) = _records(capsys)
    assert record["route"] == "GET unmatched"
    assert record["ClientErrors"] == [1.0]


def test_off_by_default(client, capsys):
    capsys.readouterr()
    client.get("/v1/leaderboard")
    assert _records(capsys) == []

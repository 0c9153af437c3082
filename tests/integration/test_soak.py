"""The soak run, bounded to a few seconds: figures per route, invariants, results file."""

import json

from ladder_dev.soak import soak


def test_a_short_soak_loses_nothing_and_reports_each_route(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"name": "api: cold import", "ratio": 1.1}]))
    summary = soak(duration=3, max_matches=300, players=20, subscribers=4, results=results)

    assert summary["matches_acknowledged"] > 0
    assert summary["lost_writes"] == 0
    assert summary["unacknowledged_writes"] == 0
    assert summary["lost_events"] == 0
    assert summary["duplicate_events"] == 0
    assert summary["events_out_of_order"] == 0
    assert summary["subscriber_resets"] == 0
    assert summary["events"] == 2 * summary["matches_acknowledged"]
    assert summary["ratings_equal_replay"] is True
    assert summary["errors"] == 0
    for route in ("GET /v1/leaderboard", "POST /v1/matches", "GET /v1/players/{id}/ratings"):
        figures = summary["routes"][route]
        assert figures["requests"] > 0
        assert 0 < figures["p50_ms"] <= figures["p99_ms"]

    rows = json.loads(results.read_text())
    assert rows[0]["name"] == "api: cold import"  # make bench's rows are kept
    soak_rows = [r for r in rows if r["name"].startswith("soak: ")]
    assert len(soak_rows) == 3  # one per read route, against its idle p99
    for row in soak_rows:
        assert row["ratio"] == round(row["value"] / row["baseline_value"], 3)
    assert json.loads((tmp_path / "soak.json").read_text())["lost_events"] == 0

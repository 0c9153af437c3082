"""The chaos drills, bounded (`SMALL`), each on its own disposable local stack."""

import pytest

from ladder.cli import DRILL_NAMES, build_parser
from scripts.chaos import run
from scripts.chaos.drills import DRILLS, SMALL


@pytest.mark.parametrize("drill", list(DRILLS))
def test_the_drill_recovers_loses_nothing_and_is_recorded(drill, tmp_path):
    (report,) = run([drill], scale=SMALL, log_dir=tmp_path)
    failed = [what for what, ok in report.checks if not ok]
    assert report.passed, failed
    assert len(report.checks) >= 5
    (record,) = tmp_path.iterdir()
    assert record.name == f"{report.started_at:%Y-%m-%d}-{drill}.md"
    text = record.read_text()
    assert f"· {drill} · PASS" in text
    assert text.count("| pass |") == len(report.checks)
    assert "**Injected:**" in text
    assert "Timings" in text


def test_a_second_run_appends_to_the_same_days_record(tmp_path):
    from scripts.chaos.drills import DrillReport
    from scripts.chaos.record import append

    first, second = DrillReport("x", "one"), DrillReport("x", "two")
    first.check("a", True)
    second.check("b", False)
    assert append(first, tmp_path) == append(second, tmp_path)
    text = next(tmp_path.iterdir()).read_text()
    assert text.count("## ") == 2
    assert "· x · PASS" in text
    assert "· x · FAIL" in text
    assert "| b | **FAIL** |" in text


def test_the_cli_offers_exactly_the_drills_there_are():
    assert set(DRILL_NAMES) == set(DRILLS)
    args = build_parser().parse_args(["chaos", "all", "--small"])
    assert (args.drill, args.small) == ("all", True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["chaos", "no-such-drill"])

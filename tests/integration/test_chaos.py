"""The chaos drills, bounded (`SMALL`), each on its own disposable local stack."""

import pytest

from ladder.cli import build_parser
from ladder_dev.chaos import run
from ladder_dev.chaos.drills import DRILLS, SMALL


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
    from ladder_dev.chaos.drills import DrillReport
    from ladder_dev.chaos.record import append

    first, second = DrillReport("x", "one"), DrillReport("x", "two")
    first.check("a", True)
    second.check("b", False)
    assert append(first, tmp_path) == append(second, tmp_path)
    text = next(tmp_path.iterdir()).read_text()
    assert text.count("## ") == 2
    assert "· x · PASS" in text
    assert "· x · FAIL" in text
    assert "| b | **FAIL** |" in text


def test_the_cli_finds_chaos_through_its_entry_point_and_checks_the_drill(capsys):
    """The operator CLI carries no drill code: the development tools register `chaos`."""
    from ladder.cli import main

    args = build_parser().parse_args(["chaos", "all", "--small"])
    assert (args.drill, args.small) == ("all", True)
    with pytest.raises(SystemExit) as refused:
        main(["chaos", "no-such-drill"])
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert all(name in error for name in DRILLS)

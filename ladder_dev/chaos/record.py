"""Incident log records: one Markdown section per drill run, appended to
`docs/incident-logs/<date>-<drill>.md`."""

from __future__ import annotations

from pathlib import Path

from ladder_dev.chaos.drills import DrillReport
from ladder_dev.streaming import REPO

INCIDENT_LOGS = REPO / "docs" / "incident-logs"


def markdown(report: DrillReport) -> str:
    verdict = "PASS" if report.passed else "FAIL"
    lines = [
        f"## {report.started_at:%Y-%m-%d %H:%M:%S} UTC · {report.drill} · {verdict}",
        "",
        f"**Injected:** {report.injected}.",
        "",
        "| measured | value |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in report.measured.items()),
        "",
        "| check | result |",
        "| --- | --- |",
        *(f"| {what} | {'pass' if ok else '**FAIL**'} |" for what, ok in report.checks),
        "",
        "Timings (seconds from the start of the drill): "
        + ", ".join(f"{name} {at:.2f}" for name, at in report.timings.items())
        + ".",
        "",
    ]
    return "\n".join(lines) + "\n"


def append(report: DrillReport, directory: Path = INCIDENT_LOGS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report.started_at:%Y-%m-%d}-{report.drill}.md"
    if not path.exists():
        path.write_text(f"# Chaos drill `{report.drill}`: records\n\n")
    with path.open("a") as log:
        log.write(markdown(report))
    return path

"""`ladder chaos <drill>|all`: rehearsed failures against a disposable local stack.

Each drill is in `drills.py`; `run` executes some and records each result in
`docs/incident-logs/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ladder_dev.chaos.drills import DRILLS, FULL, DrillReport, Scale
from ladder_dev.chaos.record import INCIDENT_LOGS, append


def run(
    names: list[str], *, scale: Scale = FULL, log_dir: Path = INCIDENT_LOGS
) -> list[DrillReport]:
    reports = []
    for name in names:
        print(f"chaos: {name} …", file=sys.stderr, flush=True)
        try:
            report = DRILLS[name](scale)
        except Exception as exc:  # a drill that cannot finish is a failed drill, recorded
            report = DrillReport(name, "(the drill could not complete)")
            report.check(f"the drill ran to the end ({type(exc).__name__}: {exc})", False)
        path = append(report, log_dir)
        verdict = "PASS" if report.passed else "FAIL"
        print(f"chaos: {name}: {verdict} (record: {path})", file=sys.stderr, flush=True)
        reports.append(report)
    return reports

"""`ladder chaos`: registered into the operator CLI through the `ladder.cli` entry
point (pyproject.toml), so it exists only where the development tools are installed."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands) -> None:
    chaos = commands.add_parser(
        "chaos", help="rehearse a failure against a disposable local stack; records the result"
    )
    chaos.add_argument("drill", help="the fault to inject (a drill's name), or all")
    chaos.add_argument("--small", action="store_true", help="a smaller workload (as tests run)")
    chaos.add_argument("--log-dir", help="where records go (default: docs/incident-logs)")
    chaos.set_defaults(run=run_chaos, needs_database=False, parser=chaos)


def run_chaos(args: argparse.Namespace) -> int:
    # The drills import much of the stack: only when one runs, not for `ladder --help`.
    from ladder_dev.chaos import run
    from ladder_dev.chaos.drills import DRILLS, FULL, SMALL

    if args.drill != "all" and args.drill not in DRILLS:
        args.parser.error(f"unknown drill {args.drill!r}: choose all or one of {', '.join(DRILLS)}")
    names = list(DRILLS) if args.drill == "all" else [args.drill]
    kwargs = {"log_dir": Path(args.log_dir)} if args.log_dir else {}
    reports = run(names, scale=SMALL if args.small else FULL, **kwargs)
    for report in reports:
        print(f"{report.drill}: {'PASS' if report.passed else 'FAIL'}")
        for what, ok in report.checks:
            if not ok:
                print(f"  failed: {what}")
    return 0 if all(r.passed for r in reports) else 1

"""Run every benchmark, print one line each, write .bench/results.json."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from dataclasses import asdict

from ladder_dev.bench import (
    REPO,
    RESULTS,
    Result,
    api,
    backup,
    imports,
    ranks,
    recalc,
    stream,
    stream_abuse,
)


def main() -> int:
    results: list[Result] = []

    def report(result: Result) -> None:
        results.append(result)
        print(result.line(), flush=True)

    report(api.bench_cold_import())
    with ExitStack() as stack:
        for result in api.bench_handler_latency(stack):
            report(result)
    for result in ranks.bench_ranks():
        report(result)
    for result in stream.bench_fanout():
        report(result)
    for result in stream_abuse.bench_replay_abuse():
        report(result)
    for result in recalc.bench_recalculation():
        report(result)
    for result in backup.bench_backup():
        report(result)
    for result in imports.bench_import():
        report(result)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

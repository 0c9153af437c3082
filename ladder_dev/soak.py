"""`make soak`: a bounded mixed workload against a local stack, then its figures and invariants.

    python -m ladder_dev.soak [--duration 60] [--max-matches 20000] [--writers 4] \\
                           [--readers 4] [--pause 0.05] [--subscribers 50]

The stack is the chaos drills' (scratch database, private Redis, moto, the API
process, two stream processes with relays, the job worker). Game servers
report matches, readers read and subscribers follow the stream for
`--duration` seconds (or until `--max-matches`); afterwards each read route is
measured idle on the same data (one client, one request at a time). It reports throughput, p50
and p99 per route and the error count, and checks that no write and no event
was lost and that every rating equals a replay. The p99 of each route under
load against its p99 idle goes to `.bench/results.json` (replacing earlier soak
rows; `make bench` rows stay); the whole summary to `.bench/soak.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import httpx

from ladder_dev.bench import RESULTS, Result
from ladder_dev.chaos.stack import (
    DrillStack,
    Workload,
    expected_events,
    ratings_equal_replay,
)
from ladder_dev.streaming import REPO

TOPICS = frozenset({"matches", "leaderboard"})
IDLE_REQUESTS = 200
P99_TARGET = 10.0  # p99 under load vs idle; the load generator shares the 2 cores


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def idle_p99(stack: DrillStack, workload: Workload) -> dict[str, float]:
    """p99 of each read route with one client and nothing else running."""
    player = workload.players[0]
    paths = {
        "GET /v1/leaderboard": "/v1/leaderboard",
        "GET /v1/players/{id}": f"/v1/players/{player}",
        "GET /v1/players/{id}/ratings": f"/v1/players/{player}/ratings",
    }
    idle = {}
    with httpx.Client(base_url=stack.api.url, timeout=10) as client:
        for route, path in paths.items():
            latencies = []
            for _ in range(IDLE_REQUESTS):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                latencies.append(time.perf_counter() - started)
            idle[route] = percentile(latencies, 0.99)
    return idle


def soak(
    *,
    duration: float = 60.0,
    max_matches: int = 20_000,
    players: int = 200,
    writers: int = 4,
    readers: int = 4,
    pause: float = 0.05,
    subscribers: int = 50,
    results: Path = RESULTS,
) -> dict:
    with DrillStack(streams=2) as stack:
        workload = Workload(
            stack,
            players=players,
            matches=max_matches,
            writers=writers,
            readers=readers,
            # Paced clients (open loop): the soak measures a steady load below
            # saturation, not how far a closed loop can push two cores.
            pause=pause,
            read_pause=pause,
            duration=duration,
            deadline=duration + 120,
        )
        # Subscribers live in their own process, spread over both stream processes.
        with tempfile.TemporaryDirectory() as work:
            subscribers_process = subprocess.Popen(
                [sys.executable, "-m", "ladder_dev.subscribers", work, str(subscribers)]
                + [s.url for s in stack.streams],
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            if subscribers_process.stdout.readline().strip() != "ready":
                raise RuntimeError("the subscribers did not connect")
            workload.start()
            workload.join()
            elapsed = time.monotonic() - workload.started

            stack.wait_published(timeout=120)
            expected = expected_events(stack, TOPICS)
            Path(work, "expected.json").write_text(json.dumps(expected))
            subscribers_process.wait(timeout=300)
            received = json.loads(Path(work, "received.json").read_text())
        stored = {str(i) for (i,) in stack.sql("SELECT id FROM matches")}
        ratings_ok, worst = ratings_equal_replay(stack)
        # The baseline: the same routes on the same (final) data, one request at a time.
        idle = idle_p99(stack, workload)

    routes = {}
    for route, stats in sorted(workload.routes.items()):
        routes[route] = {
            "requests": len(stats.latencies),
            "per_second": round(len(stats.latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(stats.latencies) * 1000, 2),
            "p99_ms": round(percentile(stats.latencies, 0.99) * 1000, 2),
            "errors": sum(n for s, n in stats.statuses.items() if isinstance(s, str) or s >= 400),
            "idle_p99_ms": round(idle[route] * 1000, 2) if route in idle else None,
        }
    lost_events = sum(r["missing"] for r in received)
    summary = {
        "seconds": round(elapsed, 1),
        "requests": sum(r["requests"] for r in routes.values()),
        "requests_per_second": round(sum(r["requests"] for r in routes.values()) / elapsed, 1),
        "errors": sum(r["errors"] for r in routes.values()),
        "matches_acknowledged": len(workload.acknowledged),
        "lost_writes": len(workload.acknowledged - stored),
        "unacknowledged_writes": workload.attempted - len(workload.acknowledged),
        "subscribers": subscribers,
        "events": len(expected),
        "lost_events": lost_events,
        "duplicate_events": sum(r["duplicates"] for r in received),
        "events_out_of_order": sum(not r["in_order"] for r in received),
        "subscriber_resets": sum(r["resets"] for r in received),
        "ratings_equal_replay": ratings_ok,
        "largest_rating_difference": worst,
        "routes": routes,
    }
    _write(summary, results)
    return summary


def _write(summary: dict, results: Path) -> None:
    rows = [
        Result(
            name=f"soak: p99 of {route} under load",
            value=r["p99_ms"],
            unit="ms",
            baseline="p99 idle (one client)",
            baseline_value=r["idle_p99_ms"],
            ratio=round(r["p99_ms"] / r["idle_p99_ms"], 3),
            target=P99_TARGET,
        )
        for route, r in summary["routes"].items()
        if r["idle_p99_ms"]
    ]
    results.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(results.read_text()) if results.exists() else []
    kept = [row for row in kept if not row["name"].startswith("soak: ")]
    results.write_text(json.dumps(kept + [asdict(r) for r in rows], indent=2) + "\n")
    (results.parent / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    for row in rows:
        print(row.line())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--max-matches", type=int, default=20_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument(
        "--pause", type=float, default=0.05, help="seconds between a client's requests"
    )
    parser.add_argument("--subscribers", type=int, default=50)
    args = parser.parse_args(argv)
    summary = soak(
        duration=args.duration,
        max_matches=args.max_matches,
        writers=args.writers,
        readers=args.readers,
        pause=args.pause,
        subscribers=args.subscribers,
    )
    print(json.dumps({k: v for k, v in summary.items() if k != "routes"}, indent=2))
    for route, r in summary["routes"].items():
        print(f"{route}: {r}")
    healthy = (
        summary["lost_writes"] == 0
        and summary["lost_events"] == 0
        and summary["duplicate_events"] == 0
        and summary["events_out_of_order"] == 0
        and summary["unacknowledged_writes"] == 0
        and summary["ratings_equal_replay"]
    )
    print("soak: " + ("no write or event lost" if healthy else "INVARIANT BROKEN"))
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())

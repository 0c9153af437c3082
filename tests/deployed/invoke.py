"""Run one Lambda handler as the Lambda runtime would, in this fresh process.

    python -m tests.deployed.invoke <module.handler> <events.json> <result.json>

The parent sets the environment exactly as the function's template does
(local endpoints substituted) plus what the runtime itself sets
(`AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, …). The module
is imported here, as the runtime's INIT does, then each event is invoked in
turn on the same warm environment. The result file gets every response, the
peak resident memory and the wall time; an exception exits 1 with its
traceback on stderr, as an INIT or invocation error would.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class Context:
    """The context object the runtime passes, with the function's real timeout."""

    function_name: str = field(default_factory=lambda: os.environ["AWS_LAMBDA_FUNCTION_NAME"])
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = field(
        default_factory=lambda: int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    )
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:parity"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/parity"
    log_stream_name: str = "parity"
    deadline: float = field(
        default_factory=lambda: time.monotonic() + float(os.environ["PARITY_TIMEOUT_SECONDS"])
    )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def peak_resident_kib() -> int:
    """This process's resident high-water mark. Not getrusage's ru_maxrss: Linux carries
    that over exec from the forked parent (the test runner), VmHWM starts afresh."""
    for line in open("/proc/self/status"):  # noqa: SIM115
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(handler_path: str, events_path: str, result_path: str) -> int:
    started = time.monotonic()
    module_name, _, attribute = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)  # INIT
    events = json.loads(open(events_path).read())  # noqa: SIM115
    responses = [handler(event, Context()) for event in events]
    peak_kib = peak_resident_kib()
    with open(result_path, "w") as out:
        json.dump(
            {
                "responses": responses,
                "peak_mib": peak_kib / 1024,
                "seconds": time.monotonic() - started,
            },
            out,
            default=str,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

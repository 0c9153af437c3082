"""`make synth`: build the Lambda layers, then synthesize each stage offline.

    python -m ladder_dev.synth [stage …]     # default: prod staging pr-0

No Docker and no AWS credentials: layers come from pip wheels, the stream
image is only staged (built at deploy), and cdk-nag runs as a validation
plugin, so any unacknowledged finding fails here. Each stage's cloud
assembly goes to cdk.out/<stage>.
"""

from __future__ import annotations

import sys
import time

from infra.stage import build_app
from ladder_dev.build_layers import LAMBDA, build

DEFAULT_STAGES = ("prod", "staging", "pr-0")
# Offline synth names what a deploy gets from the CLI and from its operator: a
# region, and for prod (which requires one) the stream listener's certificate.
# The ARN is an example, never deployed.
OFFLINE_REGION = "us-east-1"
EXAMPLE_CERTIFICATE = "arn:aws:acm:us-east-1:111111111111:certificate/example-offline-synth"


def synth(stage: str, outdir: str | None = None, **context: str) -> dict:
    """Synthesize `stage` (offline defaults unless `context` names them); returns its template."""
    build(LAMBDA)  # infra reads what it built (reused when its inputs are unchanged)
    offline = {"region": OFFLINE_REGION}
    if stage == "prod":
        offline["certificate_arn"] = EXAMPLE_CERTIFICATE
    app, stack = build_app({"stage": stage, **offline, **context}, outdir=outdir)
    assembly = app.synth()
    return assembly.get_stack_by_name(stack.stack_name).template


def main(argv: list[str]) -> None:
    for stage in argv or DEFAULT_STAGES:
        started = time.monotonic()
        template = synth(stage, outdir=f"cdk.out/{stage}")
        print(
            f"{stage}: {len(template['Resources'])} resources, cdk-nag clean, "
            f"{time.monotonic() - started:.1f} s -> cdk.out/{stage}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main(sys.argv[1:])

"""Synthesized stages as the tests read them: the template, the cdk-nag report, the assets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Synthesized:
    stage: str
    outdir: Path
    template: dict

    def resources(self, type_: str) -> dict[str, dict]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == type_}

    def one(self, type_: str) -> dict:
        (resource,) = self.resources(type_).values()
        return resource

    def props(self, type_: str) -> dict:
        return self.one(type_)["Properties"]

    @property
    def report(self) -> dict:
        return json.loads((self.outdir / "validation-report.json").read_text())

    @property
    def assets(self) -> dict:
        return json.loads((self.outdir / f"ladder-{self.stage}.assets.json").read_text())

    def our_functions(self) -> dict[str, dict]:
        """ladder's Lambdas (CDK's own helper functions excluded)."""
        return {
            k: r
            for k, r in self.resources("AWS::Lambda::Function").items()
            if r["Properties"].get("Handler", "").startswith("functions.")
        }

    def text(self, value) -> str:
        return json.dumps(value, sort_keys=True)


def synthesize(tmp_path_factory, stage: str, **context: str) -> Synthesized:
    from ladder_dev.synth import synth  # CDK (and its Node process) only for tests that synth

    outdir = tmp_path_factory.mktemp(f"cdk-{stage}")
    template = synth(stage, outdir=str(outdir), deploy_id="test", **context)
    return Synthesized(stage, outdir, template)

"""cfn-lint and checkov over the synthesized templates: nothing open, each exception reasoned.

Both run offline from their own virtualenv (`make test` installs it from
layers/requirements-scan.txt). An exception is CloudFormation metadata on the
resource it concerns, written by `infra.nag.skip_scan` with its reason.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

SCAN_BIN = Path(__file__).resolve().parents[2] / ".venv-scan" / "bin"


def _scanner(name: str) -> str:
    path = SCAN_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: `make test` installs it (layers/requirements-scan.txt)")
    return str(path)


@pytest.fixture(params=["prod", "preview", "with_certificate"])
def scanned(request):
    stage = request.getfixturevalue(request.param)
    return stage, stage.outdir / f"ladder-{stage.stage}.template.json"


def test_cfn_lint_finds_nothing(scanned):
    _, template = scanned
    result = subprocess.run(
        [_scanner("cfn-lint"), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_nothing(scanned):
    _, template = scanned
    result = subprocess.run(
        [
            *(_scanner("checkov"), "-f", str(template), "--framework", "cloudformation"),
            *("--quiet", "--output", "json", "--skip-download"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 100  # it really checked the template


def test_every_skip_names_one_check_with_a_reason(stage):
    skips = []
    for key, resource in stage.template["Resources"].items():
        metadata = resource.get("Metadata", {})
        for skip in metadata.get("checkov", {}).get("skip", []):
            skips.append((key, skip["id"], skip["comment"]))
        lint = metadata.get("cfn-lint", {})
        for check in lint.get("config", {}).get("ignore_checks", []):
            skips.append((key, check, lint["reasons"][check]))
    assert skips
    for key, check, reason in skips:
        assert "*" not in check, (key, check)
        assert "," not in check, (key, check)
        assert len(reason) > 30, (key, check)

"""What Lambda runs: the built layers and functions/, and nothing from this venv."""

import os
import subprocess
import sys

import pytest

from ladder_dev.build_layers import HOST, LAMBDA, build, unzipped_size

LIMIT_MB = 100
DEV_ONLY = ("pytest", "moto", "boto3", "botocore", "fakeredis", "hypothesis", "aws_cdk", "uvicorn")


@pytest.fixture(scope="module")
def lambda_build():
    return build(LAMBDA)


def test_every_handler_imports_with_only_the_layers_and_functions_on_the_path(preview, tmp_path):
    built = build(HOST)  # the same requirement set, for this machine's platform
    handlers = sorted(f["Properties"]["Handler"] for f in preview.our_functions().values())
    assert len(handlers) == 6
    path = os.pathsep.join(
        str(p) for p in (built["code"], built["core"] / "python", built["deps"] / "python")
    )
    check = "; ".join(
        f"import importlib; assert callable(getattr(importlib.import_module({m!r}), {h!r}))"
        for m, h in (handler.rsplit(".", 1) for handler in handlers)
    )
    check += "; import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
    check += f"{DEV_ONLY!r}))"
    result = subprocess.run(
        [sys.executable, "-S", "-c", check],  # -S: no site-packages at all
        env={"PYTHONPATH": path, "AWS_REGION": "us-east-1", "PATH": os.environ["PATH"]},
        cwd=tmp_path,  # nothing of the repo is importable from here
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"  # no dev dependency was imported


def test_the_lambda_build_targets_arm64_and_stays_small(lambda_build):
    deps = lambda_build["deps"] / "python"
    compiled = [p.name for p in deps.rglob("*.so")]
    assert compiled
    assert all("aarch64" in name or "abi3" in name for name in compiled), compiled
    names = {p.name.split("-")[0].lower() for p in deps.iterdir()}
    assert not names & set(DEV_ONLY)
    total = sum(unzipped_size(d) for d in lambda_build.values())
    assert total < LIMIT_MB * 1_000_000, f"{total / 1e6:.1f} MB"


def test_an_unchanged_build_is_reused(lambda_build):
    stamps = {
        name: (path / ".inputs-sha256").stat().st_mtime_ns for name, path in lambda_build.items()
    }
    again = build(LAMBDA)
    assert {
        name: (path / ".inputs-sha256").stat().st_mtime_ns for name, path in again.items()
    } == stamps

"""What Lambda runs: the built layers and functions/, and nothing from this venv."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ladder_dev.build_layers import HOST, LAMBDA, build, build_image_deps, unzipped_size
from tests.imports import imports

LIMIT_MB = 100
DEV_ONLY = ("pytest", "moto", "boto3", "botocore", "fakeredis", "hypothesis", "aws_cdk", "uvicorn")
# Ours, for development only: never in what is deployed.
TOOLING = ("ladder_dev", "tests")


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


def _resolves(module: str, roots: list) -> bool:
    """`module` (or, for `from a import name`, its parent) is a file under one of `roots`."""
    for name in (module, module.rpartition(".")[0]):
        path = name.replace(".", "/")
        for root in roots:
            if (root / f"{path}.py").exists() or (root / path / "__init__.py").exists():
                return True
    return False


def test_the_lambda_artifacts_hold_and_import_no_developer_tooling(lambda_build):
    core, code = lambda_build["core"] / "python", lambda_build["code"]
    assert sorted(p.name for p in core.iterdir()) == ["ladder"]
    assert sorted(p.name for p in code.iterdir() if not p.name.startswith(".")) == ["functions"]
    assert not (code / "functions" / "stream.py").exists()  # the image's entry point
    files = [*core.rglob("*.py"), *code.rglob("*.py")]
    found = [imports(core, [f]) if core in f.parents else imports(code, [f]) for f in files]
    listed = [i for group in found for i in group]
    assert len(listed) > 300  # every import, down to the lazy ones in functions
    assert [str(i) for i in listed if i.within(*TOOLING, "ladder_stream")] == []
    ours = [i for i in listed if i.within("ladder", "functions")]
    assert [str(i) for i in ours if not _resolves(i.module, [core, code])] == []


def _image_context(stage) -> Path:
    (image,) = stage.assets["dockerImages"].values()
    return stage.outdir / image["source"]["directory"]


def test_the_stream_image_holds_the_stream_and_the_core_only(preview):
    context = _image_context(preview)
    files = sorted(
        str(p.relative_to(context))
        for p in context.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert {f.split("/")[0] for f in files} == {
        ".dockerignore",
        "Dockerfile",
        "layers",
        "functions",
    }
    assert [f for f in files if f.startswith("functions/")] == [
        "functions/__init__.py",
        "functions/stream.py",
    ]
    assert {f.split("/")[1] for f in files if f.startswith("layers/")} == {
        "ladder",
        "ladder_stream",
        "requirements-core.txt",
        "requirements-stream.txt",
    }
    assert not [f for f in files if f.startswith("layers/ladder/api/")]
    layers = context / "layers"
    listed = imports(layers, list(layers.rglob("*.py"))) + imports(
        context, list((context / "functions").rglob("*.py"))
    )
    assert [str(i) for i in listed if i.within(*TOOLING, "ladder.api", "fastapi", "mangum")] == []


def test_the_stream_image_code_runs_with_exactly_the_image_dependencies(preview, tmp_path):
    """The image's code and the image's requirements, nothing of this venv: the app
    builds, and IAM authentication (boto3, which Fargate does not provide) signs a token."""
    context = _image_context(preview)
    deps = build_image_deps(HOST)
    check = (
        "import sys, functions.stream as s; assert s.app is not None; "
        "from ladder.credentials import database_conninfo; "
        "info = database_conninfo('host=proxy.example user=ladder_app dbname=ladder'); "
        "assert 'X-Amz-Signature' in info, info; "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", check],  # -S: no site-packages at all
        env={
            "PYTHONPATH": os.pathsep.join(str(p) for p in (context / "layers", context, deps)),
            "PATH": os.environ["PATH"],
            "LADDER_DB_IAM_AUTH": "true",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(ast.literal_eval(result.stdout))
    assert not loaded & {*TOOLING, "fastapi", "mangum", "jwt", "pytest", "moto"}, loaded

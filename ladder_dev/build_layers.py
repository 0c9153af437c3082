"""Build what Lambda runs: the deps layer, the core layer and the functions' code.

    python -m ladder_dev.build_layers            # for Lambda (arm64, the runtime's Python)
    python -m ladder_dev.build_layers --host     # for this machine (the footprint test)

No Docker: pip installs wheels for the target platform with `--platform
--only-binary=:all:`, so nothing is compiled and the result is the same on
any build machine. Each artifact records the hash of its inputs and is only
rebuilt when they change (the build cache); a build goes to a temporary
directory and is renamed into place, so an interrupted one is never reused.

boto3 is not in the deps layer: the Lambda runtime provides it, and the
handlers import it only where they call AWS.

    .build/<target>/deps/python/…        layers/requirements.txt
    .build/<target>/core/python/ladder/…  layers/ladder
    .build/<target>/code/functions/…      functions/*.py (the Lambdas' entry points)
    .build/<target>/manifest.json         what was built, for whom (infra/ reads it)

CDK's app command (cdk.json) and `make synth` run this first; infra/ never
imports it, it reads the manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"
REQUIREMENTS = ROOT / "layers" / "requirements.txt"
# The stream image's, which Docker installs at deploy; built here only for the test that
# imports the image's code with exactly its dependencies.
IMAGE_REQUIREMENTS = ROOT / "layers" / "requirements-stream.txt"
CORE = ROOT / "layers" / "ladder"
FUNCTIONS = ROOT / "functions"
STAMP = ".inputs-sha256"
MANIFEST = "manifest.json"
# The image's entry point, not a Lambda's: it stays out of the functions' code.
IMAGE_ONLY = ("stream.py",)

# The Lambda runtime the stacks deploy: written into the manifest, which infra/lambdas.py
# checks against the runtime it configures.
LAMBDA_PYTHON = "3.14"
LAMBDA_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")


@dataclass(frozen=True)
class Target:
    name: str
    pip_platform_args: tuple[str, ...]

    @property
    def root(self) -> Path:
        return BUILD / self.name


LAMBDA = Target(
    "lambda",
    (
        *(arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)),
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON,
    ),
)
HOST = Target("host", ())


def _files(directory: Path, pattern: str = "**/*") -> list[Path]:
    return sorted(
        p
        for p in directory.glob(pattern)
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _tree_digest(directory: Path, pattern: str = "**/*") -> str:
    files = _files(directory, pattern)
    return _digest(*(str(p.relative_to(directory)).encode() + p.read_bytes() for p in files))


def _build(out: Path, inputs: str, make) -> bool:
    """Run `make(tmp)` unless `out` was built from the same inputs; True if it ran."""
    stamp = out / STAMP
    if stamp.exists() and stamp.read_text() == inputs:
        return False
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    make(tmp)
    (tmp / STAMP).write_text(inputs)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return True


def _requirements_digest(requirements: Path, target: Target) -> str:
    """Of the file and the files it includes (`-r`), and the platform."""
    files, queue = [], [requirements]
    while queue:
        path = queue.pop()
        files.append(path.read_bytes())
        queue += [
            path.parent / line.split(maxsplit=1)[1]
            for line in path.read_text().splitlines()
            if line.startswith("-r ")
        ]
    return _digest(*files, " ".join(target.pip_platform_args).encode())


def _install_deps(tmp: Path, target: Target, requirements: Path = REQUIREMENTS) -> None:
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-compile", "--only-binary=:all:", *target.pip_platform_args),
            *("--target", str(tmp / "python"), "-r", str(requirements)),
        ],
        check=True,
    )
    # Console scripts point at this machine's interpreter; Lambda never runs them.
    shutil.rmtree(tmp / "python" / "bin", ignore_errors=True)


def _copy_tree(src: Path, dest: Path, pattern: str = "**/*") -> None:
    for path in _files(src, pattern):
        if path.name in IMAGE_ONLY and src == FUNCTIONS:
            continue
        to = dest / path.relative_to(src)
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, to)


def build(target: Target = LAMBDA) -> dict[str, Path]:
    """Build (or reuse) the three artifacts of `target`; returns their directories."""
    deps, core, code = (target.root / name for name in ("deps", "core", "code"))
    deps_inputs = _requirements_digest(REQUIREMENTS, target)
    ran = {
        "deps": _build(deps, deps_inputs, lambda tmp: _install_deps(tmp, target)),
        "core": _build(
            core, _tree_digest(CORE), lambda tmp: _copy_tree(CORE, tmp / "python" / "ladder")
        ),
        "code": _build(
            code,
            _tree_digest(FUNCTIONS, "*.py"),
            lambda tmp: _copy_tree(FUNCTIONS, tmp / "functions", "*.py"),
        ),
    }
    for name, did in ran.items():
        print(f"{target.name}/{name}: {'built' if did else 'unchanged, reused'}", file=sys.stderr)
    built = {"deps": deps, "core": core, "code": code}
    manifest = {
        "python": LAMBDA_PYTHON if target is LAMBDA else None,
        "artifacts": {name: str(path.relative_to(ROOT)) for name, path in built.items()},
    }
    (target.root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return built


def build_image_deps(target: Target = HOST) -> Path:
    """The stream image's dependencies for `target`, installed apart (or reused)."""
    out = target.root / "image-deps"
    inputs = _requirements_digest(IMAGE_REQUIREMENTS, target)
    _build(out, inputs, lambda tmp: _install_deps(tmp, target, IMAGE_REQUIREMENTS))
    return out / "python"


def unzipped_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", action="store_true", help="build for this machine instead")
    args = parser.parse_args(argv)
    built = build(HOST if args.host else LAMBDA)
    total = sum(unzipped_size(d) for d in built.values())
    print(f"unzipped total: {total / 1e6:.1f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()

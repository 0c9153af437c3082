"""What Python files import, read from their source (every import, however deep in a
function), for the tests that hold the layout's boundaries."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    module: str  # absolute: `from . import x` in package a.b is a.b.x

    def within(self, *packages: str) -> bool:
        return any(self.module == p or self.module.startswith(f"{p}.") for p in packages)

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.module}"


def python_files(root: Path) -> Iterator[Path]:
    skip = {".venv", ".venv-scan", "cdk.out", ".build", "node_modules", ".ladder", ".bench"}
    for path in sorted(root.rglob("*.py")):
        if not skip.intersection(path.relative_to(root).parts):
            yield path


def imports(root: Path, files: list[Path] | None = None) -> list[Import]:
    """Every import in the files under `root` (modules named from `root`)."""
    found = []
    for path in files if files is not None else python_files(root):
        package = list(path.relative_to(root).parent.parts)  # of a module and of __init__
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(path, node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package[: len(package) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                found.append(Import(path, node.lineno, base))
                # `from a import b` may name a submodule: count a.b as imported too.
                found += [
                    Import(path, node.lineno, f"{base}.{alias.name}")
                    for alias in node.names
                    if alias.name != "*"
                ]
    return found


def strings(path: Path) -> Iterator[tuple[int, str]]:
    """The string constants in a file, with their lines (docstrings included)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value

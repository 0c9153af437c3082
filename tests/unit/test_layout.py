"""The layout's boundaries, read from the source: what may import what, and where SQL and
after-commit effects live. Each rule was checked to fail on a planted violation."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.imports import imports, python_files

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ROOT / "layers"
CORE = LAYERS / "ladder"
ROUTERS = CORE / "api" / "routers"
DEPLOYED = [
    *python_files(LAYERS),
    *python_files(ROOT / "functions"),
    *python_files(ROOT / "infra"),
    ROOT / "app.py",
]

# SQL in a string or f-string, in any case.
SQL = re.compile(
    r"\b(select\b[\s\S]+\bfrom|insert\s+into|update\s+[\w.\"]+\s+set|delete\s+from)\b", re.I
)
# Where SQL may live: the domain modules, the stores, migrations and the recalculation.
SQL_FREE = [
    *python_files(CORE / "api"),
    CORE / "cli.py",
    CORE / "commands.py",
    CORE / "job_handlers.py",
    CORE / "maintenance.py",
    *(p for p in python_files(CORE / "jobs") if p.name != "store.py"),
    *python_files(ROOT / "functions"),
]
# After-commit effects, and who may cause them: commands, job handlers, the dispatcher
# itself and the sweeper (the backstop).
EFFECTS = {"dispatch", "dispatch_pending", "invalidate_leaderboard"}
MAY_CAUSE_EFFECTS = {
    CORE / "commands.py",
    CORE / "job_handlers.py",
    CORE / "jobs" / "dispatch.py",
    CORE / "leaderboard.py",
    CORE / "rank_index" / "sync.py",  # the index's own effects: a rebuild job when needed
    ROOT / "functions" / "sweeper.py",
}
# What a router must leave to commands (transactions, effects, scheduling) and to the
# domain modules and stores (connections, statements).
ROUTER_FORBIDDEN = EFFECTS | {
    "run_write",
    "run_idempotent",
    "schedule_job",
    "schedule_recalculation",
    "schedule_backup",
    "mark_failed",
    "mark_succeeded",
    "record_success",
    "claim",
    "defer",
    "take_lease",
    "redrive",
    "incr",
}
# Database work, as attributes (`res.db.run`, `conn.execute`): a router passes `res.db`
# to a domain function and does nothing with it itself.
DATABASE_ATTRIBUTES = {"run", "execute", "executemany", "cursor", "copy", "connection"}
DATABASE_ATTRIBUTES |= {"pool", "transaction"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _docstrings(tree: ast.Module) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef))]
    return {
        id(node.body[0].value)
        for node in nodes
        if node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _sql(path: Path) -> list[int]:
    """Lines of string or f-string expressions that hold SQL (docstrings aside)."""
    tree = _tree(path)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = ast.unparse(node)
        else:
            continue
        if SQL.search(text):
            found.append(node.lineno)
    return found


def _references(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, name, what it is an attribute of or imported from) for every name used."""
    found = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Name):
            found.append((node.lineno, node.id, None))
        elif isinstance(node, ast.Attribute):
            found.append((node.lineno, node.attr, ast.unparse(node.value)))
        elif isinstance(node, ast.ImportFrom):
            found += [(node.lineno, alias.name, node.module) for alias in node.names]
    return found


def test_nothing_deployed_imports_developer_tooling():
    found = [str(i) for i in imports(ROOT, DEPLOYED) if i.within("ladder_dev", "tests")]
    assert found == []
    # The layer's own view: its modules are imported as packages of layers/.
    found = [str(i) for i in imports(LAYERS) if i.within("ladder_dev", "tests")]
    assert found == []
    # Nor by a name built at run time (the CLI finds its plugins by entry point).
    dynamic = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in DEPLOYED
        for line, name, _ in _references(path)
        if name in ("import_module", "__import__")
    ]
    assert dynamic == []


def test_no_code_edits_sys_path():
    edits = []
    for path in python_files(ROOT):
        tree = _tree(path)
        names = {"sys"}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.asname for a in node.names if a.name == "sys" and a.asname}
            imported = isinstance(node, ast.ImportFrom) and node.module == "sys"
            if imported and any(a.name == "path" for a in node.names):
                edits.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        edits += [
            f"{path.relative_to(ROOT)}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr == "path"
            and isinstance(node.value, ast.Name)
            and node.value.id in names
        ]
    assert edits == []


def test_routers_hold_no_sql_and_no_transaction_or_effect():
    files = sorted(ROUTERS.glob("*.py"))
    assert len(files) >= 6
    assert [str(i) for i in imports(LAYERS, files) if i.within("psycopg", "ladder.db")] == []
    for path in files:
        used = [
            f"{line}: {owner + '.' if owner else ''}{name}"
            for line, name, owner in _references(path)
            if owner != "commands"
            and (name in ROUTER_FORBIDDEN or (owner is not None and name in DATABASE_ATTRIBUTES))
        ]
        assert used == [], f"{path.name} does what a command or a store should: {used}"


def test_sql_lives_in_the_domain_modules_and_stores():
    for path in SQL_FREE:
        assert _sql(path) == [], f"{path.relative_to(ROOT)}: SQL at lines {_sql(path)}"


def test_after_commit_effects_are_caused_by_commands_and_jobs_only():
    for path in [*python_files(CORE), *python_files(ROOT / "functions")]:
        if path in MAY_CAUSE_EFFECTS:
            continue
        used = [f"{line}: {name}" for line, name, _ in _references(path) if name in EFFECTS]
        assert used == [], f"{path.relative_to(ROOT)} causes after-commit effects: {used}"


def test_the_stream_service_depends_on_the_core_but_not_the_api():
    found = imports(LAYERS, list(python_files(LAYERS / "ladder_stream")))
    assert [str(i) for i in found if i.within("ladder.api", "fastapi", "mangum")] == []
    core = imports(LAYERS, list(python_files(CORE)))
    assert [str(i) for i in core if i.within("ladder_stream", "uvicorn")] == []
    # Only the API's edge imports the API or a web framework, so jobs and the stream
    # load none of it.
    outside_api = [i for i in core if i.file.relative_to(CORE).parts[0] != "api"]
    web = [str(i) for i in outside_api if i.within("ladder.api", "fastapi", "starlette", "mangum")]
    assert web == []

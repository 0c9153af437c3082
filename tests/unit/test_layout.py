"""The layout's boundaries, read from the source: what may import what, and where SQL and
after-commit effects live."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.imports import imports, python_files, strings

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ROOT / "layers"
ROUTERS = LAYERS / "ladder" / "api" / "routers"

# What a router must leave to `ladder.commands` (effects after a commit, transactions)
# and to the domain modules and stores (SQL, connections).
ROUTER_FORBIDDEN = (
    "psycopg",
    "ladder.db",
    "ladder.jobs.dispatch",
    "ladder.leaderboard.invalidate_leaderboard",
    "ladder.idempotency.run_write",
    "ladder.idempotency.run_idempotent",
    "ladder.jobs.store.schedule_job",
    "ladder.jobs.store.schedule_recalculation",
    "ladder.jobs.store.schedule_backup",
)
SQL = re.compile(r"\b(SELECT\b.+\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)


def test_nothing_deployed_imports_developer_tooling():
    deployed = [*python_files(LAYERS), *python_files(ROOT / "functions")]
    deployed += [*python_files(ROOT / "infra"), ROOT / "app.py"]
    found = [str(i) for i in imports(ROOT, deployed) if i.within("ladder_dev", "tests")]
    assert found == []
    # The layer's modules are imported as packages of layers/, functions as functions.
    found = [str(i) for i in imports(LAYERS) if i.within("ladder_dev", "tests", "scripts")]
    assert found == []


def test_no_code_edits_sys_path():
    edits = []
    for path in python_files(ROOT):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "path"
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ):
                edits.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert edits == []


def test_routers_hold_no_sql_and_no_after_commit_effects():
    files = sorted(ROUTERS.glob("*.py"))
    assert len(files) >= 6
    found = [str(i) for i in imports(LAYERS, files) if i.within(*ROUTER_FORBIDDEN)]
    assert found == []
    for path in files:
        sql = [line for line, text in strings(path) if SQL.search(text)]
        assert sql == [], f"{path.name}: SQL at lines {sql}"
        tree = ast.parse(path.read_text())
        calls = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "run", "transaction")
        ]
        assert calls == [], f"{path.name}: database calls at lines {calls}"


def test_the_cli_and_the_job_runner_leave_sql_to_the_stores():
    for path in (LAYERS / "ladder" / "cli.py", LAYERS / "ladder" / "jobs" / "runner.py"):
        sql = [line for line, text in strings(path) if SQL.search(text)]
        assert sql == [], f"{path.name}: SQL at lines {sql}"
    # SQL of the job machinery lives in its store, nowhere else in jobs/.
    for path in (LAYERS / "ladder" / "jobs").glob("*.py"):
        if path.name != "store.py":
            assert [t for _, t in strings(path) if SQL.search(t)] == [], path.name


def test_the_stream_service_depends_on_the_core_but_not_the_api():
    found = imports(LAYERS, list(python_files(LAYERS / "ladder_stream")))
    assert [str(i) for i in found if i.within("ladder.api", "fastapi", "mangum")] == []
    core = imports(LAYERS, list(python_files(LAYERS / "ladder")))
    assert [str(i) for i in core if i.within("ladder_stream", "uvicorn")] == []
    # The web framework only at the API's edge, so jobs and the stream load none of it.
    web = [
        str(i)
        for i in core
        if i.within("fastapi", "starlette", "mangum")
        and i.file.relative_to(LAYERS / "ladder").parts[0] != "api"
    ]
    assert web == []

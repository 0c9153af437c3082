"""`make dev` with nothing configured: serves the API and keeps data across a restart."""

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ladder_dev.local_services import free_port
from tests.conftest import bearer

REPO = Path(__file__).resolve().parents[2]


def start_stack(state_dir: Path, port: int, stream_port: int) -> subprocess.Popen:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "AWS_ENDPOINT_URL")
    }
    env.update(
        LADDER_DEV_DIR=str(state_dir),
        LADDER_DEV_API_PORT=str(port),
        LADDER_DEV_STREAM_PORT=str(stream_port),
        LADDER_STREAM_METRICS_PORT="0",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "ladder_dev.dev"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make dev exited early:\n{process.stdout.read()}")
        try:
            if all(
                httpx.get(f"http://127.0.0.1:{p}/health", timeout=1).status_code == 200
                for p in (port, stream_port)
            ):
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    pytest.fail(f"make dev did not serve /health in time:\n{process.stdout.read()}")


def stop_stack(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


def fixed_port(*taken: int) -> int:
    """A free port below the kernel's ephemeral range: the stack's own servers (Redis)
    bind port 0 and get an ephemeral one, which could be the one this test picked and
    freed a moment ago (it happened: Redis took the API's port)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(low // 2, low)
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return free_port()


def test_dev_stack_serves_and_keeps_a_player_across_a_restart(tmp_path):
    state_dir, port = tmp_path / ".ladder", fixed_port()
    stream_port = fixed_port(port)
    api = f"http://127.0.0.1:{port}"

    first = start_stack(state_dir, port, stream_port)
    try:
        with httpx.stream(
            "GET", f"http://127.0.0.1:{stream_port}/v1/stream", params={"topics": "matches"}
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
        created = httpx.post(
            f"{api}/v1/players",
            json={"handle": "survivor", "display_name": "Survivor"},
            headers=bearer("ladder:write"),
        )
        assert created.status_code == 201, created.text
        env_file = (state_dir / "dev.env").read_text()
        assert "DATABASE_URL=" in env_file
        assert "REDIS_URL=" in env_file
        assert "AWS_ENDPOINT_URL=http://127.0.0.1:" in env_file
        assert httpx.get(f"{api}/ready").status_code == 200

        # The CLI, run from the checkout, acts on the running stack through dev.env.
        def ladder(*args: str) -> subprocess.CompletedProcess:
            done = subprocess.run(
                [sys.executable, "-m", "ladder.cli", *args],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                env={
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("DATABASE", "REDIS", "LADDER_", "AWS_"))
                },
            )
            assert done.returncode == 0, done.stderr
            return done

        recalc = ladder("recalc")  # the local worker runs it through functions.jobs
        assert "recalculating: 100%" in recalc.stderr  # progress on stderr, results on stdout
        assert recalc.stdout.startswith("recalculation job ")
        assert "done: 0 matches replayed" in recalc.stdout
        assert "jobs" in ladder("queues").stdout
        backup_id = ladder("backup", "create").stdout  # ID=$(ladder backup create)
        assert re.fullmatch(r"\d{8}T\d{12}Z\n", backup_id), backup_id
        exported = ladder("anonymize", "export").stdout  # the salt comes from dev.env
        assert re.fullmatch(r"\d{8}T\d{12}Z\n", exported), exported
    finally:
        output = stop_stack(first)
    assert "Traceback" not in output
    assert '"_aws"' not in output  # no raw EMF metric blobs
    assert not re.search(r' - - \[[^\]]+\] "', output)  # no line per moto request

    second = start_stack(state_dir, port, stream_port)
    try:
        found = httpx.get(f"{api}/v1/players", params={"handle": "survivor"})
        assert found.status_code == 200
        assert found.json()["id"] == created.json()["id"]
    finally:
        stop_stack(second)


def refused_start(state_dir: Path, api_port: int) -> subprocess.CompletedProcess:
    """`make dev` expected to refuse before starting anything."""
    return subprocess.run(
        [sys.executable, "-m", "ladder_dev.dev"],
        cwd=REPO,
        env={
            **os.environ,
            "LADDER_DEV_DIR": str(state_dir),
            "LADDER_DEV_API_PORT": str(api_port),
            "LADDER_DEV_STREAM_PORT": str(free_port()),
            "LADDER_STREAM_METRICS_PORT": "0",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_busy_port_fails_fast_naming_the_variable_that_moves_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = refused_start(tmp_path / ".ladder", port)
    assert started.returncode == 1
    assert f"port {port} is in use (set LADDER_DEV_API_PORT to another)" in started.stderr
    assert len(started.stderr.strip().splitlines()) == 1
    assert not (tmp_path / ".ladder").exists()  # nothing started, nothing written


def test_a_second_stack_on_the_same_state_directory_is_refused(tmp_path):
    state_dir = tmp_path / ".ladder"
    state_dir.mkdir()
    (state_dir / "dev.pid").write_text(str(os.getpid()))  # a live process holds it
    started = refused_start(state_dir, free_port())
    assert started.returncode == 1
    assert f"another make dev (pid {os.getpid()}) uses {state_dir}" in started.stderr
    assert sorted(p.name for p in state_dir.iterdir()) == ["dev.pid"]  # nothing else written

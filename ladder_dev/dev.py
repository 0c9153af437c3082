"""`make dev`: the whole ladder stack on one machine.

With nothing configured: embedded PostgreSQL (data under `.ladder/`, kept
across restarts), a private redis-server (or fakeredis over TCP when none is
installed), an in-process moto server for AWS, migrations applied, and the API
on http://127.0.0.1:8000, the stream service (with the outbox relay) on
http://127.0.0.1:8001. `DATABASE_URL`, `REDIS_URL` and `AWS_ENDPOINT_URL`
point it at real services instead. The resolved URLs are written to
`.ladder/dev.env` for the `ladder` CLI. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack, suppress
from pathlib import Path

from ladder_dev.local_services import embedded_postgres, free_port, redis_server

STATE_DIR = Path(os.environ.get("LADDER_DEV_DIR") or ".ladder")
API_PORT = int(os.environ.get("LADDER_DEV_API_PORT", "8000"))
STREAM_PORT = int(os.environ.get("LADDER_DEV_STREAM_PORT", "8001"))
METRICS_PORT = int(os.environ.get("LADDER_STREAM_METRICS_PORT", "9464"))
HOST = "127.0.0.1"
# The ports the stack listens on, and the variable that moves each.
PORTS = {
    "LADDER_DEV_API_PORT": API_PORT,
    "LADDER_DEV_STREAM_PORT": STREAM_PORT,
    "LADDER_STREAM_METRICS_PORT": METRICS_PORT,
}

# AWS resources the stack expects, created in the moto server at start.
JOBS_QUEUE, JOBS_DLQ = "ladder-jobs", "ladder-jobs-dlq"
LOCAL_BUCKETS = ("ladder-backups",)
LOCAL_VISIBILITY_TIMEOUT = 10  # seconds before a failed job is retried locally
FAKE_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def log(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def start_postgres(stack: ExitStack) -> str:
    if url := os.environ.get("DATABASE_URL"):
        log("postgres: DATABASE_URL")
        return url
    log(f"postgres: embedded, data in {STATE_DIR / 'postgres'}")
    return stack.enter_context(embedded_postgres(STATE_DIR / "postgres"))


def start_redis(stack: ExitStack) -> str:
    if url := os.environ.get("REDIS_URL"):
        log("redis: REDIS_URL")
        return url
    url, process = stack.enter_context(redis_server(STATE_DIR / "redis"))
    log(f"redis: {'redis-server' if process else 'in-process fakeredis'} at {url}")
    return url


def start_aws(stack: ExitStack) -> tuple[str, dict[str, str]]:
    for name, value in FAKE_AWS_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    if url := os.environ.get("AWS_ENDPOINT_URL"):
        log("aws: AWS_ENDPOINT_URL")
    else:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address=HOST, port=free_port(), verbose=False)
        server.start()
        stack.callback(server.stop)
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        log(f"aws: in-process moto at {url}")
    return url, create_aws_resources(url)


def create_aws_resources(
    endpoint: str, *, queue: str = JOBS_QUEUE, dlq: str = JOBS_DLQ
) -> dict[str, str]:
    """Queues (jobs + DLQ after 5 receives, as in AWS) and buckets; returns their settings."""
    import json

    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint)
    dlq_url = sqs.create_queue(QueueName=dlq)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=queue,
        Attributes={
            "VisibilityTimeout": str(LOCAL_VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    s3 = boto3.client("s3", endpoint_url=endpoint)
    for name in LOCAL_BUCKETS:
        s3.create_bucket(Bucket=name)
    return {"LADDER_JOBS_QUEUE_URL": queue_url, "LADDER_JOBS_DLQ_URL": dlq_url}


def start_stream_service(stack: ExitStack) -> None:
    """The stream service (relay included) as its own process, exactly as on Fargate."""
    import subprocess

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "functions.stream:app",
            "--host",
            HOST,
            "--port",
            str(STREAM_PORT),
            "--log-level",
            "info",
        ],
        env={**os.environ, "LADDER_PUBLIC_API_URL": f"http://{HOST}:{API_PORT}"},
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
        process.wait(20)

    stack.callback(stop)
    log(f"stream service on http://{HOST}:{STREAM_PORT} (live leaderboard at /)")


# (name, every seconds, handler): what EventBridge Scheduler invokes in AWS.
def local_schedules() -> list[tuple[str, float, object]]:
    from functions import backups, sweeper

    return [
        ("outbox sweep", 60.0, sweeper.handler),
        ("backup", 24 * 3600.0, backups.backup_handler),
        ("restore drill", 7 * 24 * 3600.0, backups.drill_handler),
    ]


def start_job_worker(stack: ExitStack, queue_url: str) -> None:
    """Long-poll the jobs queue and call the jobs Lambda's handler: its code path, not a copy."""
    import threading

    import boto3

    from functions import jobs
    from ladder_dev.local_worker import run_worker

    stop = threading.Event()
    client = boto3.client("sqs")
    threading.Thread(
        target=run_worker, args=(client, queue_url, jobs.handler, stop, log), daemon=True
    ).start()
    stack.callback(stop.set)
    log("job worker: polling the jobs queue")


def start_schedules(stack: ExitStack) -> None:
    """Invoke the scheduled Lambdas' handlers on their schedules, in threads."""
    import threading

    from ladder_dev.local_services import LambdaContext

    stop = threading.Event()

    def every(name: str, seconds: float, handler) -> None:
        while not stop.wait(seconds):
            try:
                handler({"source": "ladder.local-scheduler", "detail": {}}, LambdaContext(name))
            except Exception as exc:  # one failed run must not end the schedule
                log(f"schedule {name!r} failed: {exc!r}")

    for name, seconds, handler in local_schedules():
        threading.Thread(target=every, args=(name, seconds, handler), daemon=True).start()
        log(f"schedule: {name} every {seconds:.0f} s")
    stack.callback(stop.set)


def busy_ports() -> list[str]:
    """Which of the stack's ports another process holds, each with the variable that moves it."""
    import socket

    busy = []
    for variable, port in PORTS.items():
        if port == 0:  # 0: any free port (the metrics server takes one itself)
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                busy.append(f"port {port} is in use (set {variable} to another)")
    return busy


def claim_state_dir(stack: ExitStack) -> str | None:
    """Make this process the state directory's one stack (its pid in `dev.pid`), or say
    which live one has it: two stacks sharing a directory would share one database and
    overwrite each other's dev.env."""
    path = STATE_DIR / "dev.pid"
    try:
        other = int(path.read_text())
        os.kill(other, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pass
    else:
        return f"another make dev (pid {other}) uses {STATE_DIR}: stop it, or set LADDER_DEV_DIR"
    path.write_text(str(os.getpid()))
    stack.callback(path.unlink, missing_ok=True)
    return None


def development_salt() -> str:
    """The anonymization salt of this checkout's local stack: made once, then kept, so
    exports stay comparable across restarts. Never a production secret."""
    import secrets

    path = STATE_DIR / "anonymize.salt"
    if not path.exists():
        path.write_text(f"ladder-dev-{secrets.token_hex(16)}")
    return path.read_text().strip()


def quiet_logs() -> None:
    """A readable log: no line per moto request, no raw EMF metric blobs (Lambda's
    CloudWatch reads those; locally they are noise)."""
    import logging
    import warnings

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # embedded-postgres asks platformdirs for a runtime directory, which warns on every
    # start where XDG_RUNTIME_DIR is unset (containers, CI) and then uses /tmp anyway.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


def write_dev_env(values: dict[str, str]) -> Path:
    from ladder.settings import dev_env_file

    path = dev_env_file()
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def main() -> int:
    import uvicorn

    if busy := busy_ports():
        print(
            f"[dev] cannot start: {'; '.join(busy)} (a second stack also needs its own "
            "LADDER_DEV_DIR)",
            file=sys.stderr,
        )
        return 1
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    quiet_logs()
    with ExitStack() as stack:
        if taken := claim_state_dir(stack):
            print(f"[dev] cannot start: {taken}", file=sys.stderr)
            return 1
        aws_url, queues = start_aws(stack)
        urls = {
            "DATABASE_URL": start_postgres(stack),
            "REDIS_URL": start_redis(stack),
            "AWS_ENDPOINT_URL": aws_url,
            **queues,
        }
        os.environ.update(urls)
        env_file = write_dev_env(
            {
                **urls,
                **FAKE_AWS_CREDENTIALS,
                "LADDER_ANONYMIZE_SALT": development_salt(),
                "LADDER_API_URL": f"http://{HOST}:{API_PORT}",
                "LADDER_STREAM_URL": f"http://{HOST}:{STREAM_PORT}",
            }
        )
        log(f"wrote {env_file}")

        from ladder.api.app import create_app
        from ladder.maintenance import prepare_database
        from ladder.settings import get_settings

        prepared = prepare_database(get_settings())
        log(f"migrations applied: {prepared['applied'] or 'none pending'}")
        start_stream_service(stack)
        start_job_worker(stack, queues["LADDER_JOBS_QUEUE_URL"])
        start_schedules(stack)
        app = create_app()
        stack.callback(app.state.resources.close)
        log(f"API on http://{HOST}:{API_PORT} (docs at /docs); Ctrl-C stops everything")
        server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=API_PORT, log_level="info"))
        # uvicorn re-raises Ctrl-C after its graceful shutdown; that is our cue to stop.
        with suppress(KeyboardInterrupt):
            server.run()
        log("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())

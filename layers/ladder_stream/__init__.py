"""The stream service: SSE over the event log, on Fargate (the image), never in a Lambda.

It depends on the core (`ladder`: settings, credentials, the relay, the outbox's
problem types) and nothing of the API. `app` builds the ASGI app
(`functions/stream.py`); `hub` is the one live reader per process, `log` reads
history from Redis then Postgres, `sse` writes one client's stream, `tasks`
runs the process's background duties, `metrics` are its Prometheus metrics.
"""

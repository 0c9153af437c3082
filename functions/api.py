"""API Gateway (REST) → Lambda entry: Mangum over the same FastAPI app.

`lifespan="off"`: Mangum would otherwise run startup/shutdown on every
invocation. Resources are created at import but connect on first use.

SnapStart: the published version is a snapshot of this module after import.
Connections in it would be stale in every restored copy, so the after-restore
hook drops them; the next request opens fresh ones (with a fresh IAM token).
"""

from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from ladder.api.app import create_app
from ladder.observability import logger, metrics

try:
    from snapshot_restore_py import register_after_restore  # only in Lambda's runtime
except ImportError:  # pragma: no cover - elsewhere there is no snapshot to restore

    def register_after_restore(hook):
        return hook


app = create_app()
# problem+json is text: without this Mangum would base64-encode every error.
_asgi_handler = Mangum(
    app, lifespan="off", text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"]
)


@register_after_restore
def drop_connections() -> None:
    app.state.resources.close()


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return _asgi_handler(event, context)

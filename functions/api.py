"""API Gateway (REST) → Lambda entry: Mangum over the same FastAPI app.

`lifespan="off"`: Mangum would otherwise run startup/shutdown on every
invocation. Resources are created at import but connect on first use.
"""

from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum

from ladder.api.app import create_app
from ladder.observability import logger, metrics

app = create_app()
_asgi_handler = Mangum(app, lifespan="off")


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return _asgi_handler(event, context)

"""Deploy-time migration, run by a CDK trigger once the database and its proxy are up.

It does what `ladder migrate` does locally: apply pending migrations (under
their advisory lock, so two deploys cannot race), then record the rating
rules, scheduling a recalculation if they changed. A failure fails the
deploy, which CloudFormation then rolls back.
"""

from ladder.maintenance import prepare_database
from ladder.observability import logger
from ladder.settings import get_settings

# At INIT, without I/O: settings unfit for AWS fail here, not at the first run.
settings = get_settings()


@logger.inject_lambda_context
def handler(event, context):
    result = prepare_database(settings)
    logger.info("database prepared", **result)
    return result

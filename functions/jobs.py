"""SQS → Lambda job worker: Powertools BatchProcessor over the job registry.

Failed records are reported as batch item failures, so only they return to
the queue; after 5 receives SQS moves them to the DLQ.
"""

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ladder.job_handlers import handle
from ladder.jobs.envelope import Envelope
from ladder.observability import logger, metrics
from ladder.resources import Resources
from ladder.settings import get_settings

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
resources = Resources.from_settings(get_settings())


def record_handler(record: SQSRecord):
    return handle(resources, Envelope.model_validate_json(record.body))


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, context):
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )

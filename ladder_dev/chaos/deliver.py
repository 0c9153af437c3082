"""One SQS delivery of a job message to the jobs Lambda's handler, in its own process
(so a drill can kill it): `python -m ladder_dev.chaos.deliver '<envelope json>'`.

Exits 0 when the handler reported no batch item failure, 1 otherwise.
"""

import json
import sys
import uuid

from ladder_dev.local_services import LambdaContext
from ladder_dev.local_worker import sqs_event


def main(envelope: str) -> int:
    from functions import jobs

    message = {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "drill", "Body": envelope}
    event = sqs_event([message], "arn:aws:sqs:us-east-1:000000000000:ladder-jobs", "us-east-1")
    response = jobs.handler(event, LambdaContext("jobs"))
    print(json.dumps(response))
    return 1 if response.get("batchItemFailures") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

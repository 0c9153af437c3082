"""The local SQS → Lambda bridge: long-polls a queue and calls a handler with real
SQS event shapes, deleting what succeeded and leaving batch item failures to
come back after their visibility timeout, as the Lambda event source mapping does.
"""

from __future__ import annotations

import threading

from ladder_dev.local_services import LambdaContext


def sqs_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def poll_once(client, queue_url: str, handler, *, wait_seconds: int = 1) -> tuple[int, int]:
    """One receive → invoke → delete round; returns (received, failed)."""
    messages = client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if not messages:
        return 0, 0
    arn = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    response = handler(sqs_event(messages, arn, client.meta.region_name), LambdaContext("jobs"))
    failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
    done = [m for m in messages if m["MessageId"] not in failed]
    if done:
        client.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
            ],
        )
    return len(messages), len(failed)


def run_worker(client, queue_url: str, handler, stop: threading.Event, on_error=print) -> None:
    while not stop.is_set():
        try:
            poll_once(client, queue_url, handler)
        except Exception as exc:  # keep polling: the next round may succeed
            on_error(f"job worker: {exc!r}")
            stop.wait(1)

"""The jobs queue and its worker.

SQS with KMS and TLS only; the DLQ takes a message after 5 receives. The
worker's event source reports batch item failures (only failed records
return) and has a maximum concurrency, so a backlog cannot exhaust the
database. Visibility is 6× the function timeout, as Lambda advises, so a
message is never redelivered while a worker still runs it.
"""

from __future__ import annotations

from aws_cdk import Duration, Names
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import Connections, StageConfig
from infra.lambdas import LambdaKit
from infra.nag import acknowledge
from infra.queues import dead_letter_queue, queue

JOB_TIMEOUT = Duration.minutes(15)
MAX_RECEIVES = 5


class Jobs(Construct):
    def __init__(self, scope: Construct, id: str, *, config: StageConfig, key: kms.IKey) -> None:
        super().__init__(scope, id)
        removal = config.removal
        self.dlq = dead_letter_queue(
            self, "DeadLetters", key=key, removal=removal, whose="the jobs queue's"
        )
        self.queue = queue(
            self,
            "Queue",
            key=key,
            visibility_timeout=Duration.seconds(6 * JOB_TIMEOUT.to_seconds()),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=MAX_RECEIVES),
            removal=removal,
        )
        self.environment = {
            "LADDER_JOBS_QUEUE_URL": self.queue.queue_url,
            "LADDER_JOBS_DLQ_URL": self.dlq.queue_url,
        }

    def add_worker(self, kit: LambdaKit, *, config: StageConfig, **environment: str):
        self.worker = kit.function(
            "JobWorker",
            handler="functions.jobs.handler",
            description="ladder background jobs (recalculations, cache invalidation, backups)",
            memory_mb=config.job_memory_mb,
            timeout=JOB_TIMEOUT,
            environment=environment,
            # The mapping's maximum concurrency bounds SQS's invocations; this bounds any
            # other (a manual invoke), so the connection budget holds either way.
            reserved_concurrent_executions=config.job_max_concurrency,
            # Its pool, plus the one connection a backup.create job reads the snapshot on.
            connections=Connections(proxy=2),
        )
        mapping = sources.SqsEventSource(
            self.queue,
            batch_size=5,
            report_batch_item_failures=True,
            max_concurrency=config.job_max_concurrency,
        )
        self.worker.add_event_source(mapping)
        acknowledge(
            self.worker.node.find_child(f"SqsEventSource:{Names.node_unique_id(self.queue.node)}"),
            "Serverless::Serverless-LambdaEventSourceMappingDestination",
            "SQS mappings take no on-failure destination: the queue's redrive policy moves a "
            "message to the DLQ after 5 receives.",
        )
        return self.worker

"""The jobs package's errors."""

from __future__ import annotations

from ladder.errors import ServiceUnavailable


class QueueUnavailable(ServiceUnavailable):
    """SQS did not answer."""


class UnknownJobType(ValueError):
    """A message whose type no handler declares: it fails into the DLQ."""


class JobDeferred(Exception):
    """The job cannot run now: back to the queue, sent again by the sweeper."""


class RecalculationBusy(JobDeferred):
    """Another recalculation holds the lease; this job should run later."""


class LeaseLost(Exception):
    """This job's lease lapsed and another job took it: its results must not be applied."""

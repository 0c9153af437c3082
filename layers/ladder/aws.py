"""AWS failures as ladder's errors: S3 or SQS refusing or not answering is a dependency's
outage (503 at the API), not a bug (500)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ladder.errors import ServiceUnavailable

P = ParamSpec("P")
T = TypeVar("T")


class AwsUnavailable(ServiceUnavailable):
    """An AWS call failed: an outage, throttling, missing credentials or grants."""


def from_aws(error: BaseException) -> bool:
    """botocore is imported lazily, only by the paths that call AWS, so its errors are
    recognised by their module rather than by importing its classes everywhere."""
    return type(error).__module__.split(".")[0] in ("botocore", "boto3")


def aws_errors_are_unavailable(call: Callable[P, T]) -> Callable[P, T]:
    """`call`'s AWS errors raised as `AwsUnavailable`."""

    @functools.wraps(call)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if from_aws(exc):  # the cause, for logs and the CLI: it names buckets, endpoints
                raise AwsUnavailable("S3 or SQS refused or did not answer; retry later") from exc
            raise

    return wrapper

"""Real API Gateway REST (payload 1.0) proxy events."""

from __future__ import annotations

import base64
import json
import uuid

from ladder_dev.local_services import LambdaContext

__all__ = ["LambdaContext", "rest_event"]


def rest_event(
    method: str,
    path: str,
    *,
    body: object | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    stage: str = "prod",
    base64_body: bool = False,
) -> dict:
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    raw = None
    if body is not None:
        raw = body if isinstance(body, str) else json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
        if base64_body:
            raw = base64.b64encode(raw.encode()).decode()
    request_id = str(uuid.uuid4())
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": "28/Nov/2026:12:00:00 +0000",
            "requestTimeEpoch": 1795867200000,
            "protocol": "HTTP/1.1",
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
        },
        "body": raw,
        "isBase64Encoded": base64_body,
    }

"""Ingest: the API in front of the pipeline. ``POST /orders`` queues the order.

``GET /health`` answers 200: Route 53 health checks probe it on each regional API.
"""

import base64
import binascii
import json
import os
from typing import Any

import boto3

_sqs = None


def _queue() -> Any:
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    return _sqs


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Queue a posted order, or answer a health check."""
    method = event.get("httpMethod") or event.get("requestContext", {}).get("http", {}).get(
        "method", "POST"
    )
    path = event.get("path") or event.get("rawPath") or "/orders"
    region = event.get("requestContext", {}).get("apiId") or os.environ.get("AWS_REGION", "")
    if method == "GET" and path.endswith("/health"):
        return _response(200, {"ok": True, "region": region})
    body = event.get("body") or "{}"
    try:
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        order = json.loads(body)
    except (ValueError, binascii.Error):
        return _response(400, {"error": "body must be a JSON object"})
    if not isinstance(order, dict):
        return _response(400, {"error": "body must be a JSON object"})
    # The body is queued verbatim so that any trace mark it carries travels with it.
    _queue().send_message(QueueUrl=os.environ["ORDERS_QUEUE_URL"], MessageBody=json.dumps(order))
    return _response(202, {"accepted": True, "region": region})

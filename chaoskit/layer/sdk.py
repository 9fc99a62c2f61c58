"""AWS SDK throttling: botocore answers itself with a real AWS error response.

A ``before-send`` handler returns an ``AWSResponse`` shaped exactly like the
service's own throttling error (JSON, rest-JSON, query XML, EC2 XML, rest-XML
or CBOR, inferred from the request), so botocore parses a genuine
``ClientError`` and its retry modes (legacy, standard, adaptive) retry and
back off exactly as they would against AWS. Each attempt rolls the rate.

A call whose last attempt got an injected error failed for good: the SDK
retried no more and raised it to the function's code. An ``after-call``
handler tells those apart (the final response is one of ours) and logs each
(:func:`chaoskit.layer.log.gave_up`), so the runtime can tell a failure the
function reported from one it swallowed.

The handler is registered once, on first use: on every botocore session and
client alive at that moment (found through ``gc``, so clients created at
module import are covered) and on every session created afterwards (through
``botocore.session.Session.__init__``). When no fault is armed it returns at
once. Only imported when a config holds an ``sdk_throttle`` fault.
"""

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from chaoskit.layer import _aws, log
from chaoskit.layer.config import Fault, natural_throttle

__all__ = ["arm", "build_error_response", "install", "service_names"]

_UNIQUE_ID = "chaoskit-sdk-throttle"
#: Set on the responses this module makes (the value: the error code).
_MARK = "chaoskit_injected"
_lock = threading.Lock()
_installed = False
_armed: tuple[list[Fault], str, random.Random, Callable[[float], None]] | None = None

#: boto3 service name -> botocore service id (hyphenized) where they differ.
_ALIASES = {
    "events": "eventbridge",
    "stepfunctions": "sfn",
    "apigateway": "api-gateway",
    "logs": "cloudwatch-logs",
    "route53": "route-53",
    "monitoring": "cloudwatch",
    "apigatewayv2": "apigatewayv2",
}
_REST_XML = ("s3", "s3-control", "route-53", "cloudfront")


def service_names(service: str) -> set[str]:
    """Return the names a configured service may appear under in botocore event names."""
    lowered = service.lower()
    return {lowered, _ALIASES.get(lowered, lowered)}


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


def _cbor_text(text: str) -> bytes:
    raw = text.encode("utf-8")
    size = len(raw)
    if size < 24:
        head = bytes([0x60 | size])
    elif size < 256:
        head = bytes([0x78, size])
    else:
        head = bytes([0x79]) + size.to_bytes(2, "big")
    return head + raw


def _protocol(request: Any, service: str) -> str:
    headers = request.headers
    if (headers.get("smithy-protocol") or "").lower() == "rpc-v2-cbor":
        return "cbor"
    if headers.get("X-Amz-Target"):
        return "json"
    if service == "ec2":
        return "ec2"
    content_type = str(headers.get("Content-Type") or "")
    if "x-www-form-urlencoded" in content_type:
        return "query"
    return "rest-xml" if service in _REST_XML else "rest-json"


def build_error_response(request: Any, service: str, code: str, status: int, message: str) -> Any:
    """Return a botocore ``AWSResponse`` carrying the AWS error ``code``."""
    from botocore.awsrequest import AWSResponse, HeadersDict

    request_id = str(uuid.uuid4())
    protocol = _protocol(request, service)
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    if protocol in ("json", "rest-json"):
        import json

        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["x-amzn-ErrorType"] = f"{code}:http://internal.amazon.com/"
        body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    elif protocol == "cbor":
        headers["Content-Type"] = "application/cbor"
        headers["smithy-protocol"] = "rpc-v2-cbor"
        body = bytes([0xA2]) + _cbor_text("__type") + _cbor_text(code)
        body += _cbor_text("message") + _cbor_text(message)
    else:
        from xml.sax.saxutils import escape

        headers["Content-Type"] = "text/xml"
        error = f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        if protocol == "query":
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type>{error}</Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            ).encode()
        elif protocol == "ec2":
            body = (
                f"<Response><Errors><Error>{error}</Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>"
            ).encode()
        else:
            body = f"<Error>{error}<RequestId>{request_id}</RequestId></Error>".encode()
    return AWSResponse(request.url, status, HeadersDict(headers), _Body(body))


def _dispatch(request: Any = None, event_name: str = "", **kwargs: Any) -> Any:
    armed = _armed
    if armed is None or _aws.is_internal():
        return None
    faults, version, rng, sleep = armed
    _, _, rest = event_name.partition(".")
    service, _, operation = rest.partition(".")
    for fault in faults:
        params = fault.params
        if service not in service_names(params["service"]):
            continue
        operations = params.get("operations") or ()
        if operations and _op_key(operation) not in {_op_key(op) for op in operations}:
            continue
        roll = rng.random()
        if roll >= fault.rate:
            continue
        natural_code, natural_status = natural_throttle(service)
        code = params.get("error_code") or natural_code
        status = int(params.get("http_status") or (natural_status if not params.get("error_code")
                                                   else 400))  # fmt: skip
        log.fault("sdk_throttle", version, roll, fault.rate, service=service,
                  operation=operation, error_code=code, http_status=status)  # fmt: skip
        latency = float(params.get("latency_ms") or 0)
        if latency:
            sleep(latency / 1000.0)
        message = str(params.get("message") or "Rate exceeded (injected by chaoskit)")
        response = build_error_response(request, service, code, status, message)
        setattr(response, _MARK, code)
        return response
    return None


def _after_call(
    http_response: Any = None, context: Any = None, event_name: str = "", **kwargs: Any
) -> None:
    code = getattr(http_response, _MARK, None)
    armed = _armed
    if code is None or armed is None:
        return  # the call ended on a response that was not ours
    _, _, rest = event_name.partition(".")
    service, _, operation = rest.partition(".")
    retries = context.get("retries") if isinstance(context, dict) else None
    attempts = retries.get("attempt") if isinstance(retries, dict) else None
    log.gave_up("sdk_throttle", armed[1], service=service, operation=operation,
                error_code=code, attempts=attempts)  # fmt: skip


def _op_key(name: str) -> str:
    # "PutItem", "put_item" and "putitem" name the same operation.
    return name.replace("_", "").lower()


def _register(emitter_owner: Any) -> None:
    emitter_owner.register("before-send", _dispatch, unique_id=_UNIQUE_ID)
    emitter_owner.register("after-call", _after_call, unique_id=_UNIQUE_ID + "-after")


def install() -> None:
    """Register the ``before-send`` handler everywhere botocore may send from (once)."""
    global _installed
    with _lock:
        if _installed:
            return
        import gc

        import botocore.client
        import botocore.session

        original_init = botocore.session.Session.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            _register(self)

        botocore.session.Session.__init__ = __init__
        for obj in gc.get_objects():
            if isinstance(obj, botocore.session.Session):
                _register(obj)
            elif isinstance(obj, botocore.client.BaseClient):
                _register(obj.meta.events)
        _installed = True


def arm(
    faults: list[Fault], version: str, rng: random.Random, sleep: Callable[[float], None]
) -> Callable[[], None]:
    """Throttle matching SDK calls until the returned function is called."""
    global _armed
    install()
    _armed = (faults, version, rng, sleep)

    def disarm() -> None:
        global _armed
        _armed = None

    return disarm

"""Lambda's own pollers invoke their function in-process, not through an internal API call.

For every event of an asynchronous invocation (``InvocationType=Event``) LocalStack's
event poller calls ``lambda:Invoke`` (``RequestResponse``) with an internal boto
client: the request is built, signed and serialised by botocore, then parsed,
routed and answered by LocalStack's whole request chain, and the answer parsed
back (about a tenth of LocalStack's CPU in a profile of the reference app, which
makes one async invocation per order). The patched poller's client makes the
same call in-process: it resolves the invoked ARN (alias routing included),
checks and invokes as the API would (LocalStack's ``LambdaService.invoke``, the
same call the Invoke API makes) and hands the poller the same response: status,
``FunctionError``, ``ExecutedVersion`` and the payload to read.

Everything after it is LocalStack's poller, unchanged: the retries of function
errors, throttles and system errors (requeued with their delay), the maximum event
age, on-failure and on-success destinations and the dead-letter queue. Errors
the API would answer come as LocalStack's API exceptions (``TooManyRequestsException``
for a throttle, reserved concurrency 0 included), which the poller handles like
the client's. One difference: the internal boto client retried a throttle or a
5xx up to four times itself (legacy retry mode) before the poller saw it; now the
poller's own retry with backoff handles the first one, as Lambda's does.

Event source mappings (SQS, Kinesis, DynamoDB streams) invoke the same way: their
sender's internal client (no retries) is replaced by the in-process one, which
raises the API's errors as that client did (botocore's ``ClientError`` classes,
with the error code and status), so the mappings' handling of throttles and
failures sees what it saw before.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from localstack.utils.patch import Patch

from .patching import UnsupportedLocalStackError, replace, wrap

__all__ = ["DirectLambdaClient", "patches"]

LOG = logging.getLogger(__name__)


def _lambda_service() -> Any:
    from localstack.services.plugins import SERVICE_PLUGINS

    provider = getattr(SERVICE_PLUGINS.get_service("lambda"), "_provider", None)
    service = getattr(provider, "lambda_service", None)
    if service is None:
        raise UnsupportedLocalStackError("LocalStack's Lambda provider has no lambda_service")
    return service


class _Exceptions:
    """The ``exceptions`` namespace of a Lambda client, with LocalStack's API classes."""

    def __getattr__(self, name: str) -> Any:
        from localstack.aws.api import lambda_ as api

        return getattr(api, name)


class DirectLambdaClient:
    """The part of a Lambda client the pollers use: invoke, custom_headers, exceptions.

    Args:
        service: LocalStack's ``LambdaService`` (found when first needed if ``None``).
        headers: the request headers the poller sets (its request id and trace header).
        client_errors: raise the API's errors as botocore's (as a boto client), not
            as LocalStack's exceptions (as the async poller's client, which handles both).
    """

    exceptions = _Exceptions()

    def __init__(
        self,
        service: Any = None,
        headers: dict[str, str] | None = None,
        client_errors: bool = False,
    ) -> None:
        self._service = service
        self.headers = dict(headers or {})
        self.client_errors = client_errors

    def custom_headers(self, headers: dict[str, str]) -> DirectLambdaClient:
        """Return a client that sends ``headers`` with its calls (as LocalStack's does)."""
        return DirectLambdaClient(self._service, {**self.headers, **headers}, self.client_errors)

    def invoke(
        self,
        FunctionName: str,
        Payload: bytes | None = None,
        InvocationType: str = "RequestResponse",
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Invoke ``FunctionName`` (an ARN) as ``lambda:Invoke`` would; return its response."""
        from localstack.aws.api import ServiceException
        from localstack.utils.strings import long_uid

        request_id = self.headers.get("X-Amz-Request-Id") or long_uid()
        try:
            result = self._invoke(FunctionName, Payload, InvocationType, request_id, kwargs)
        except ServiceException as err:
            if self.client_errors:
                raise _client_error(err, request_id) from err
            raise
        metadata = {"RequestId": request_id, "HTTPStatusCode": 200}
        if InvocationType == "Event":
            return {"StatusCode": 202, "Payload": io.BytesIO(b""), "ResponseMetadata": metadata}
        if InvocationType == "DryRun":
            return {"StatusCode": 204, "Payload": io.BytesIO(b""), "ResponseMetadata": metadata}
        payload = result.payload
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": io.BytesIO(payload.encode() if isinstance(payload, str) else payload or b""),
            "ExecutedVersion": result.executed_version,
            "ResponseMetadata": metadata,
        }
        if result.is_error:
            response["FunctionError"] = "Unhandled"
        return response

    def _invoke(
        self,
        function: str,
        payload: bytes | str | None,
        invocation_type: str,
        request_id: str,
        kwargs: dict[str, Any],
    ) -> Any:
        from localstack.aws.api import ServiceException
        from localstack.aws.api.lambda_ import (
            InvalidParameterValueException,
            ResourceNotFoundException,
        )
        from localstack.aws.api.lambda_ import ServiceException as LambdaServiceException
        from localstack.services.lambda_.api_utils import function_locators_from_arn
        from localstack.services.lambda_.invocation.execution_environment import (
            EnvironmentStartupTimeoutException,
        )
        from localstack.utils.xray.trace_header import TraceHeader

        name, qualifier, account, region = function_locators_from_arn(function)
        if not (name and account and region):
            raise ResourceNotFoundException(f"Function not found: {function}", Type="User")
        given = kwargs.get("Qualifier")
        if given and qualifier and given != qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified "
                "qualifier.",
                Type="User",
            )
        qualifier = qualifier or given
        header = TraceHeader.from_header_str(self.headers.get("X-Amzn-Trace-Id"))
        service = self._service or _lambda_service()
        try:
            return service.invoke(
                function_name=name,
                qualifier=qualifier,
                region=region,
                account_id=account,
                invocation_type=invocation_type,
                client_context=kwargs.get("ClientContext"),
                request_id=request_id,
                trace_context={"aws_trace_header": header.ensure_root_exists()},
                payload=payload.encode() if isinstance(payload, str) else payload,
                user_agent="localstack-internal",
            )
        except ServiceException:
            raise
        except EnvironmentStartupTimeoutException as err:  # as LambdaProvider.invoke
            raise LambdaServiceException(
                f"[{request_id}] Timeout while starting up lambda environment for function "
                f"{name}:{qualifier}"
            ) from err
        except Exception as err:
            raise LambdaServiceException(
                f"[{request_id}] Internal error while executing lambda {name}:{qualifier}. "
                f"Caused by {type(err).__name__}: {err}"
            ) from err


_ERROR_CLASSES: list[Any] = []


def _client_error(err: Any, request_id: str) -> Exception:
    """Return the botocore error a Lambda client raises for LocalStack's API error ``err``."""
    if not _ERROR_CLASSES:
        from localstack.aws.connect import connect_to

        _ERROR_CLASSES.append(connect_to(region_name="us-east-1").lambda_.exceptions)
    response = {
        "Error": {"Code": err.code, "Message": err.message},
        "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": err.status_code},
    }
    error: Exception = _ERROR_CLASSES[0].from_code(err.code)(response, "Invoke")
    return error


def patches() -> list[Patch]:
    """Give every async event poller and event source mapping the in-process client."""
    from localstack.services.lambda_.event_source_mapping import esm_worker_factory
    from localstack.services.lambda_.event_source_mapping.senders.lambda_sender import (
        LambdaSender,
    )
    from localstack.services.lambda_.invocation import event_manager as em

    def init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.lambda_client = DirectLambdaClient()

    class EsmLambdaSender(LambdaSender):
        """LocalStack's sender of a mapping's batches, with the in-process client."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.target_client = DirectLambdaClient(client_errors=True)

    return [
        wrap(em.Poller, "__init__", init),
        replace(esm_worker_factory, "LambdaSender", EsmLambdaSender),
    ]

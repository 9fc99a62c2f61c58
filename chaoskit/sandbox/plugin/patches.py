"""Fixes to LocalStack's Lambda async event handling, applied when LocalStack starts.

1. Reserved concurrency 0 is a kill switch, not a drop: LocalStack sends an async
   event for a function throttled to zero straight to its on-failure destination
   (``ZeroReservedConcurrency``). Our experiments need what the project's spec
   asks of the sandbox: throttled events wait, are retried with backoff, and are
   processed once concurrency is restored, while within their maximum event age
   (then ``EventAgeExceeded``).
2. Throttle retries back off exponentially (LocalStack retries every second),
   capped at 5x ``LAMBDA_RETRY_BASE_DELAY`` (AWS: 5 minutes at its 60 s base).
3. An event poller stopped by a function update could receive a message after it
   was told to stop and drop it, leaving the event invisible for the function
   timeout + 60 s; the patched poller puts such messages back at once.
4. ``UpdateAlias`` with a ``RoutingConfig`` (a canary's traffic shift) raised
   ``_create_routing_config_model() missing ... 'function_version'``: LocalStack
   forgot the alias's target version there; the patch passes it.
5. The async event poller's invoke: in-process (``async_invoke.py``).
6. ``GetFunctionConfiguration`` of an alias (``name:live``, or ``Qualifier=live``)
   answered "Function not found"; it answers the configuration of the version the
   alias points at, as ``GetFunction`` (and AWS) do.

The GIL switch interval stays at the interpreter's 5 ms. It was 0.5 ms, so that
a thread handing back a Lambda result waited less behind one with CPU work, but
every forced switch is a context switch: with LocalStack's many threads a
profile put a fifth of its time in the kernel's task switching, and the
reference app needed a fifth more CPU per order than with 5 ms (warm invoke
latency was no better).

How environments start: ``environments.py``. DynamoDB queries: ``dynamodb.py``; its
Kinesis streaming destinations: ``kinesis_destination.py``.
Function logs in batches: ``logs.py``. Event source mappings: ``esm.py`` (state),
``streams.py`` (Kinesis, DynamoDB streams), ``sqs.py`` (SQS). The environments'
keepalive timers: ``timers.py``. Random UUIDs without a system call each:
``uuids.py``. The request chain's pure computations, remembered or skipped:
``request_chain.py``. Stack updates of aliases and async invoke configs: ``cfn_updates.py``.
Every patch goes through ``patching.py``, which checks the LocalStack
version first.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from localstack.runtime import hooks
from localstack.utils.patch import Patch

from .patching import UnsupportedLocalStackError, apply_all, replace, wrap

LOG = logging.getLogger(__name__)


@hooks.on_infra_start()
def chaoskit_patches() -> None:
    """Check the LocalStack version and apply every sandbox patch (once, at start)."""
    from . import (
        alias_invoke_config,
        async_invoke,
        cfn_updates,
        dynamodb,
        environments,
        esm,
        events_dlq,
        function_gateway,
        kinesis_destination,
        logs,
        metrics,
        request_chain,
        sqs,
        streams,
        timers,
        uuids,
    )

    try:
        apply_all(
            [
                lambda_event_patches,
                lambda_alias_patches,
                alias_invoke_config.patches,
                async_invoke.patches,
                cfn_updates.patches,
                environments.patches,
                events_dlq.patches,
                esm.patches,
                streams.patches,
                sqs.patches,
                metrics.patches,
                dynamodb.patches,
                kinesis_destination.patches,
                logs.patches,
                function_gateway.patches,
                request_chain.patches,
                timers.patches,
                uuids.patches,
            ]
        )
    except UnsupportedLocalStackError as err:
        # LocalStack logs and ignores a failing hook; a sandbox without its patches
        # would quietly diverge from AWS, so stop here (`sandbox up` shows this line).
        LOG.error("chaoskit: %s", err)
        sys.stderr.write(f"chaoskit: {err}\n")
        sys.stderr.flush()
        os._exit(3)


def lambda_event_patches() -> list[Patch]:
    """The async event poller patches (1-3 above)."""
    from localstack import config
    from localstack.aws.api.lambda_ import TooManyRequestsException
    from localstack.services.lambda_.invocation import event_manager as em

    def handle_invoke_exception(
        self: Any, sqs_invocation: Any, error: Exception, event_invoke_config: Any
    ) -> Any:
        if not em.has_enough_time_for_retry(sqs_invocation, event_invoke_config):
            self.process_failure_destination(
                sqs_invocation, None, event_invoke_config, "EventAgeExceeded"
            )
            self.process_dead_letter_queue(sqs_invocation, None)
            return em.FunctionStatus.event_age_exceeded_error
        return self.process_throttles_and_system_errors(sqs_invocation, error)

    def process_throttles_and_system_errors(
        self: Any, sqs_invocation: Any, error: Exception
    ) -> Any:
        throttled = isinstance(error, TooManyRequestsException) or (
            type(error).__name__ == "TooManyRequestsException"
        )
        status = em.FunctionStatus.throttle_error if throttled else em.FunctionStatus.system_error
        cap = max(1, min(300, 5 * config.LAMBDA_RETRY_BASE_DELAY_SECONDS))
        delay = min(2**sqs_invocation.exception_retries, cap)
        sqs_invocation.exception_retries += 1
        em.get_sqs_client(self.version_manager.function_version).send_message(
            QueueUrl=self.event_queue_url,
            MessageBody=sqs_invocation.encode(),
            DelaySeconds=int(delay),
        )
        return status

    def run(self: Any, *args: Any, **kwargs: Any) -> None:
        sqs_client = em.get_sqs_client(
            self.version_manager.function_version, client_config=em.CLIENT_CONFIG
        )
        function_timeout = self.version_manager.function_version.config.timeout
        while not self._shutdown_event.is_set():
            try:
                response = sqs_client.receive_message(
                    QueueUrl=self.event_queue_url,
                    WaitTimeSeconds=2,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=function_timeout + 60,
                )
                messages = response.get("Messages") or []
                if not messages:
                    continue
                if self._shutdown_event.is_set():
                    # Hand them to the poller that replaced us (the internal queue client
                    # has no ChangeMessageVisibility: send again, then delete).
                    for message in messages:
                        sqs_client.send_message(
                            QueueUrl=self.event_queue_url, MessageBody=message["Body"]
                        )
                        sqs_client.delete_message(
                            QueueUrl=self.event_queue_url, ReceiptHandle=message["ReceiptHandle"]
                        )
                    return
                for message in messages:
                    self.invoker_pool.submit(self.handle_message, message)
            except Exception as err:
                if self._shutdown_event.is_set():
                    return
                LOG.error("error polling lambda events: %s", err)
                self._shutdown_event.wait(1)

    return [
        replace(em.Poller, "_handle_invoke_exception", handle_invoke_exception),
        replace(
            em.Poller, "process_throttles_and_system_errors", process_throttles_and_system_errors
        ),
        replace(em.Poller, "run", run),
    ]


_ALIAS_TARGET = threading.local()


def lambda_alias_patches() -> list[Patch]:
    """Let UpdateAlias set a routing config (4 above); read an alias's configuration (6)."""
    from localstack.services.lambda_ import api_utils
    from localstack.services.lambda_.provider import LambdaProvider

    def create_routing_config_model(
        original_model: Any, self: Any, routing_config_dict: Any, function_version: Any = None
    ) -> Any:
        if function_version is None:
            function_version = getattr(_ALIAS_TARGET, "version", None)
        return original_model(self, routing_config_dict, function_version)

    def update_alias(
        original_update: Any,
        self: Any,
        context: Any,
        function_name: str,
        name: str,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        target = None
        try:
            account_id, region = api_utils.get_account_and_region(function_name, context)
            function = self._get_function(
                function_name=api_utils.get_function_name(function_name, context),
                region=region,
                account_id=account_id,
            )
            alias = function.aliases.get(name)
            qualifier = kwargs.get("function_version") or (args[0] if args else None)
            qualifier = qualifier or (alias.function_version if alias else None)
            target = function.versions.get(qualifier) if qualifier else None
        except Exception:  # the original raises the proper AWS error
            target = None
        _ALIAS_TARGET.version = target
        try:
            return original_update(self, context, function_name, name, *args, **kwargs)
        finally:
            _ALIAS_TARGET.version = None

    def get_function_configuration(
        original_get: Any,
        self: Any,
        context: Any,
        function_name: str,
        qualifier: str | None = None,
        **kwargs: Any,
    ) -> Any:
        _, named = api_utils.get_name_and_qualifier(function_name, qualifier, context)
        if named and not named.isdigit() and named != "$LATEST":  # an alias: as GetFunction
            found = self.get_function(context, function_name, qualifier, **kwargs)
            return found["Configuration"]
        return original_get(self, context, function_name, qualifier, **kwargs)

    return [
        wrap(LambdaProvider, "_create_routing_config_model", create_routing_config_model),
        wrap(LambdaProvider, "update_alias", update_alias),
        wrap(LambdaProvider, "get_function_configuration", get_function_configuration),
    ]

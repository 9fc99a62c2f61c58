"""Event source mapping state that tells the truth, and pollers that stop when disabled.

LocalStack 2026.3 rebuilds a mapping's worker on every ``UpdateEventSourceMapping``
and starts the new one while the old poller still runs: ``GetEventSourceMapping``
then reported ``Disabled`` while records were still being delivered, and
``ListEventSourceMappings`` (which reads the store the old worker kept writing)
could say ``Disabled`` while ``Get`` said ``Enabled``. Here:

- stopping a worker also closes its poller, so a batch waiting between retries
  stops at once (its records are redelivered from the checkpoint later);
- a new worker waits for the previous poller of the same mapping to exit before
  it polls; a disabled one reports ``Disabling`` until then, ``Disabled`` after;
- ``Get`` and ``List`` both report the current worker's state;
- every poller knows its mapping's configuration (``chaoskit_esm``), which the
  stream delivery reads for ``BisectBatchOnFunctionError``;
- ``ListEventSourceMappings`` with a ``FunctionName`` lists that function's
  mappings only. LocalStack kept every mapping whose function ARN *contains* the
  name given, so ``orders-worker`` also listed the mappings of
  ``orders-worker-replica``, and a cleanup script that deletes "its" mappings
  deleted another function's. The name, full or partial ARN is matched as a whole;
  an unqualified one lists the mappings of its versions and aliases too (as
  LocalStack did), a qualified one (``name:live``) that qualifier's only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from localstack.utils.patch import Patch

from .patching import wrap

LOG = logging.getLogger(__name__)

#: Longest wait for a previous poller to exit (a function may run 900 s).
PREDECESSOR_TIMEOUT = 905.0
#: ESM UUID -> the thread of its most recently started poller.
_THREADS: dict[str, threading.Thread] = {}
_LOCK = threading.Lock()


def _previous(uuid: str) -> threading.Thread | None:
    with _LOCK:
        thread = _THREADS.get(uuid)
    return thread if thread is not None and thread.is_alive() else None


def get_esm_worker(original: Any, self: Any) -> Any:
    """Build the worker as LocalStack does; let its poller see the mapping's configuration."""
    worker = original(self)
    worker.poller.chaoskit_esm = dict(self.esm_config)
    return worker


def stop(original: Any, self: Any) -> None:
    """Stop the worker and close its poller at once."""
    original(self)
    try:
        self.poller.close()
    except Exception as err:  # closing is best effort; the loop closes it again on exit
        LOG.debug("closing the poller of %s: %s", self.uuid, err)


def start(original: Any, self: Any) -> None:
    """Start polling once the mapping's previous poller has exited."""
    self.chaoskit_previous = _previous(self.uuid)
    original(self)
    with _LOCK:
        if self._poller_thread is not None:
            _THREADS[self.uuid] = self._poller_thread


def poller_loop(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
    """Wait for the previous poller of this mapping, then poll."""
    previous = getattr(self, "chaoskit_previous", None)
    if previous is not None:
        previous.join(PREDECESSOR_TIMEOUT)
    original(self, *args, **kwargs)


def create(original: Any, self: Any) -> None:
    """Create the worker; a disabled one is ``Disabling`` until the previous poller exits."""
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmState

    previous = None if self.enabled else _previous(self.uuid)
    if previous is None:
        original(self)
        return
    with self._state_lock:
        self.current_state = EsmState.DISABLING
        self.state_transition_reason = self.user_state_reason
    self.update_esm_state_in_store(EsmState.DISABLING)

    def settle() -> None:
        previous.join(PREDECESSOR_TIMEOUT)
        with self._state_lock:
            if self.enabled or self.current_state != EsmState.DISABLING:
                return
            self.current_state = EsmState.DISABLED
        with contextlib.suppress(KeyError):  # deleted meanwhile
            self.update_esm_state_in_store(EsmState.DISABLED)

    threading.Thread(target=settle, name=f"esm-disable-{self.uuid}", daemon=True).start()


_LIST_ARGS = ("event_source_arn", "function_name", "marker", "max_items")


def of_function(function_name: str) -> Callable[[str], bool]:
    """Return a test of a mapping's ``FunctionArn``: is it the function ``function_name`` names?

    ``function_name`` is a name, a partial or a full ARN, with or without a qualifier.
    """
    from localstack.services.lambda_.api_utils import function_locators_from_arn

    name, qualifier, account, region = function_locators_from_arn(function_name)
    if not name:  # not a function name: nothing is that function (AWS rejects it)
        return lambda arn: False

    def matches(arn: str) -> bool:
        other, other_qualifier, other_account, other_region = function_locators_from_arn(arn)
        return (
            other == name
            and (qualifier is None or other_qualifier == qualifier)
            and (account is None or other_account == account)
            and (region is None or other_region == region)
        )

    return matches


def list_event_source_mappings(
    original: Any, self: Any, context: Any, *args: Any, **kwargs: Any
) -> Any:
    """List the named function's mappings, each with its current worker's state."""
    given = dict(zip(_LIST_ARGS, args, strict=False)) | kwargs
    function_name = given.get("function_name")
    if function_name:
        response = _list_of_function(context, function_name, given)
    else:
        response = original(self, context, *args, **kwargs)
    for mapping in response.get("EventSourceMappings") or []:
        worker = self.esm_workers.get(mapping.get("UUID"))
        if worker is not None:
            mapping["State"] = worker.current_state
            mapping["StateTransitionReason"] = worker.state_transition_reason
    return response


def _list_of_function(context: Any, function_name: str, given: dict[str, Any]) -> Any:
    """LocalStack's listing, with the function matched as a whole instead of as a substring."""
    from localstack.aws.api.lambda_ import ListEventSourceMappingsResponse
    from localstack.services.lambda_.invocation.lambda_service import lambda_stores
    from localstack.utils.collections import PaginatedList

    source = given.get("event_source_arn")
    matches = of_function(function_name)
    store = lambda_stores[context.account_id][context.region]
    esms = PaginatedList(
        [
            esm
            for esm in store.event_source_mappings.values()
            if matches(str(esm.get("FunctionArn") or ""))
            and (not source or esm.get("EventSourceArn") == source)
        ]
    )
    # LocalStack passes None on to get_page when the request has no marker or limit.
    marker: Any = given.get("marker")
    limit: Any = given.get("max_items")
    page, token = esms.get_page(lambda x: str(x.get("UUID")), marker, limit)
    return ListEventSourceMappingsResponse(EventSourceMappings=page, NextMarker=token)


def patches() -> list[Patch]:
    """The event source mapping state patches."""
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmWorker
    from localstack.services.lambda_.event_source_mapping.esm_worker_factory import (
        EsmWorkerFactory,
    )
    from localstack.services.lambda_.provider import LambdaProvider

    return [
        wrap(EsmWorkerFactory, "get_esm_worker", get_esm_worker),
        wrap(EsmWorker, "stop", stop),
        wrap(EsmWorker, "start", start),
        wrap(EsmWorker, "poller_loop", poller_loop),
        wrap(EsmWorker, "create", create),
        wrap(LambdaProvider, "list_event_source_mappings", list_event_source_mappings),
    ]

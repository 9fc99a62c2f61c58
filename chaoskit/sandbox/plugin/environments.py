"""Execution environments start one per core at a time; a waiting invocation takes a free one.

LocalStack gives each invocation that finds no idle environment a new one, starting
up to 16 at once. On AWS every environment has a machine of its own; in the
sandbox they share two cores. A burst of synchronous invokes (a state machine's
tasks retried together, an API's requests) started a dozen Python processes at
once, each start slowed the others (16 at once: 10 s each, 8: 3.5 s), and a 6 s
function whose first invocation ran while the others were still importing timed
out with its handler never reached. Step Functions retried and then caught what
was a healthy function: the sandbox, not the app, dead-lettered the event.

Here an invocation that finds every environment of its function busy first waits
``PATIENCE`` (a quarter second) for one to be free, then for its turn to start one,
at most one start per core at a time; meanwhile it takes any environment that
becomes idle (a warm invoke ends in milliseconds; a start takes a second or more
here), so a burst is served by about as many environments as it keeps busy. After
``WAIT_LIMIT`` seconds without a turn or a free environment it starts one anyway.
The cost is up to a quarter second more before an invocation that needs a new
environment starts while others are busy (a function with none at all does not
wait); on AWS it would not wait. What stays
LocalStack's: throttling (decided by its concurrency counting before an
environment is assigned, so reserved concurrency behaves as before), provisioned
concurrency, and what happens to an environment whose invocation failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from localstack.utils.patch import Patch

from .patching import replace

__all__ = ["PATIENCE", "START_SLOTS", "patches"]

LOG = logging.getLogger(__name__)

#: Environments starting at once: one per core.
START_SLOTS = max(1, os.cpu_count() or 1)
#: How long an invocation that finds every environment busy waits for one to be free
#: before it asks for a new one, in seconds: far less than a start takes here.
PATIENCE = 0.25
#: Longest wait between two tries for a turn to start an environment, in seconds (a
#: released environment or an ended start wakes the waiting invocations at once).
WAIT_STEP = 0.05
#: Longest wait for a turn to start an environment before starting one regardless.
WAIT_LIMIT = 20.0


def patches() -> list[Patch]:
    """Return the patch of LocalStack's ``AssignmentService.get_environment``."""
    from localstack.services.lambda_.invocation.assignment import AssignmentService
    from localstack.services.lambda_.invocation.execution_environment import (
        InvalidStatusException,
    )
    from localstack.services.lambda_.invocation.lambda_models import InitializationType

    original = AssignmentService.get_environment
    slots = threading.BoundedSemaphore(START_SLOTS)
    changed = threading.Condition()  # an environment was released, or a start ended

    def notify() -> None:
        with changed:
            changed.notify_all()

    def idle(service: Any, manager: str, kind: Any) -> Any:
        for environment in list(service.environments[manager].values()):
            if environment.initialization_type != kind:
                continue
            try:
                environment.reserve()
                return environment
            except InvalidStatusException:
                pass
        return None

    def idle_by(until: float, service: Any, manager: str, kind: Any) -> Any:
        """Return an idle environment, reserved, as soon as there is one, or None at ``until``."""
        with changed:
            while True:
                environment = idle(service, manager, kind)
                left = until - time.monotonic()
                if environment is not None or left <= 0:
                    return environment
                changed.wait(left)

    def start(service: Any, manager: str, function_version: Any) -> Any:
        with service.on_demand_start_semaphore:
            environment = service.start_environment(manager, function_version)
        service.environments[manager][environment.id] = environment
        environment.reserve()
        return environment

    def assign(service: Any, manager: str, function_version: Any, kind: Any) -> Any:
        now = time.monotonic()
        # Only an environment that exists can come free: a function's first invocation
        # (or its first after the idle ones stopped) does not wait the patience out.
        environments = list(service.environments[manager].values())
        existing = any(e.initialization_type == kind for e in environments)
        environment = idle_by(now + (PATIENCE if existing else 0.0), service, manager, kind)
        deadline = now + WAIT_LIMIT
        while environment is None:
            if slots.acquire(blocking=False):
                try:
                    environment = idle(service, manager, kind) or start(
                        service, manager, function_version
                    )
                finally:
                    slots.release()
                    notify()
            else:
                environment = idle_by(time.monotonic() + WAIT_STEP, service, manager, kind)
                if environment is None and time.monotonic() > deadline:
                    LOG.debug("no turn to start an environment in %s s: starting one", WAIT_LIMIT)
                    environment = start(service, manager, function_version)
        return environment

    @contextlib.contextmanager
    def get_environment(
        self: Any, version_manager_id: str, function_version: Any, provisioning_type: Any
    ) -> Iterator[Any]:
        if provisioning_type != InitializationType.on_demand:
            with original(self, version_manager_id, function_version, provisioning_type) as env:
                yield env
            return
        environment = assign(self, version_manager_id, function_version, provisioning_type)
        # As LocalStack's own: release after the invocation, stop the environment if it
        # failed outside the function (the function's own errors come back as results).
        try:
            yield environment
            environment.release()
            notify()
        except InvalidStatusException as err:
            LOG.error("InvalidStatusException: %s", err)
        except Exception as err:
            LOG.error("Failed invocation <%s>: %s", type(err), err)
            self.stop_environment(environment)
            raise

    return [replace(AssignmentService, "get_environment", get_environment)]

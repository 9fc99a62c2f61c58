"""Kill switch: reserved concurrency on Lambda functions, restored exactly.

Reserved concurrency 0 stops a function: sync invokes get 429
``TooManyRequestsException``, async events wait and are retried, SQS polling
stops. The restore puts back the exact previous state: the old number, or
no reservation at all (unreserved), never a guess.
"""

from collections.abc import Mapping
from typing import Any

from chaoslib.types import Configuration, Secrets

from chaoskit.aws import client
from chaoskit.errors import BadInput, expect_state
from chaoskit.functions.config import function_name_of
from chaoskit.functions.select import aws_call, select_functions
from chaoskit.run_context import current_run_id
from chaoskit.undo import guard, mutation, rollback_run, scheduled

__all__ = ["restore_reserved_concurrency", "set_reserved_concurrency"]

ACTION = "set_reserved_concurrency"
RESTORER = "chaoskit.faults.kill_switch:restore_reserved_concurrency_snapshot"


def _reserved(name: str, configuration: Mapping[str, Any] | None) -> int | None:
    lam = client("lambda", configuration)
    found = aws_call(
        "lambda:GetFunctionConcurrency", name, lam.get_function_concurrency, FunctionName=name
    )
    value = found.get("ReservedConcurrentExecutions")
    return None if value is None else int(value)


def _put(name: str, value: int | None, configuration: Mapping[str, Any] | None) -> None:
    """Set (or delete) the reservation, then read it back: the target must show it."""
    lam = client("lambda", configuration)
    op = "lambda:DeleteFunctionConcurrency" if value is None else "lambda:PutFunctionConcurrency"
    if value is None:
        aws_call(
            "lambda:DeleteFunctionConcurrency",
            name,
            lam.delete_function_concurrency,
            FunctionName=name,
        )
    else:
        aws_call(
            "lambda:PutFunctionConcurrency",
            name,
            lam.put_function_concurrency,
            FunctionName=name,
            ReservedConcurrentExecutions=value,
        )
    expect_state(op, name, value, _reserved(name, configuration))


def restore_reserved_concurrency_snapshot(
    snapshot: dict[str, Any], configuration: dict[str, Any]
) -> None:
    """Put a function's reserved concurrency back as the snapshot says (restorer).

    A scheduled restore the change created (:mod:`chaoskit.undo.scheduled`) is deleted first.
    """
    if snapshot.get("schedule"):
        scheduled.delete(snapshot["schedule"], configuration)
    name = str(snapshot["function_name"])
    previous = snapshot.get("previous")
    wanted = None if previous is None else int(previous)
    if _reserved(name, configuration) != wanted:
        _put(name, wanted, configuration)


def set_reserved_concurrency(
    function_names: list[str] | None = None,
    tags: dict[str, str] | None = None,
    concurrency: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Set reserved concurrency on functions; 0 (the default) is a kill switch.

    Each function's previous state (a number, or unreserved) is journaled
    first and restored exactly by ``restore_reserved_concurrency``, by the
    chaoskit control at the end of the run, or by ``chaoskit rollback``.

    Args:
        function_names: function names or ARNs.
        tags: select every function carrying all these tags (with or instead of names).
        concurrency: the reserved concurrency to set (0 stops the function).

    Returns:
        One row per function: ``function_name``, ``previous`` (``None`` =
        unreserved), ``concurrency``, ``dry_run``.
    """
    if int(concurrency) < 0:
        raise BadInput(f"invalid concurrency {concurrency}: expected 0 or more")
    refs = select_functions(function_names, tags, configuration)
    for ref in refs:  # refuse before the first mutation, not halfway through
        guard(ref.name, ref.tags, configuration)
    rows = []
    for ref in refs:
        previous = _reserved(ref.name, configuration)
        snapshot: dict[str, Any] = {"function_name": ref.name, "previous": previous}
        schedule = scheduled.plan(ACTION, ref.name, current_run_id(configuration), configuration)
        if schedule:  # journaled with the change, before the schedule exists
            snapshot["schedule"] = schedule
        with mutation(
            ACTION, ref.name, RESTORER, snapshot, configuration, function_arn=ref.arn
        ) as change:
            if not change.dry_run:
                if schedule and change.expires_at is not None:
                    scheduled.create(schedule, ref.name, previous, change.expires_at, configuration)
                _put(ref.name, int(concurrency), configuration)
        rows.append(
            {
                "function_name": ref.name,
                "previous": previous,
                "concurrency": int(concurrency),
                "dry_run": change.dry_run,
            }
        )
    return rows


def restore_reserved_concurrency(
    function_names: list[str] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Restore the reserved concurrency this run changed, exactly as it was.

    Args:
        function_names: only these functions (names or ARNs); default all
            that this run changed.

    Returns:
        One row per restored change (``resource``, ``status``...); empty when
        there was nothing left to restore, so running it twice is harmless.
    """
    run_id = current_run_id(configuration)
    if not function_names:
        return rollback_run(run_id, configuration, action=ACTION)
    rows = []
    for name in function_names:
        rows.extend(
            rollback_run(run_id, configuration, action=ACTION, resource=function_name_of(name))
        )
    return rows

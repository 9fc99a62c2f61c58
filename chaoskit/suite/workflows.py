"""Whether traced events reach a state machine's task function, and where its failures end.

Step Functions hands a task what its states make of the execution's input. The
mark ``send_events`` puts in each event (its ``chaoskit`` member) reaches the
task only where every state on the way keeps the part of the input that holds
it. :func:`reach` follows the states from ``StartAt`` to the task the way Step
Functions computes each state's input and output (``InputPath``,
``Parameters``, ``ResultPath``, ``OutputPath``; for JSONata states
``Arguments`` and ``Output``) and says where the mark is when the task gets
it, or why it cannot be sure the task gets it (a Choice state decides, a Map
state hands out items, a state replaces the input with its result).

:func:`failure_path` reads the task's ``Retry`` and ``Catch`` for the error a
failing function raises: how often it is retried, and whether the caught event
ends in a queue chaoskit can read (an ``sqs:sendMessage`` state sending on the
input that holds the mark), or where it is dropped.

A location is the tuple of keys from the input's root to the mark, e.g.
``("detail", "chaoskit")`` for an EventBridge event.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaoskit.ledger.trace import MARK
from chaoskit.topology import StateMachine, TaskState

__all__ = ["Failure", "Reach", "failure_path", "mark_at_start", "reach", "select"]

Location = tuple[str, ...]

#: The error names a Retry or Catch rule must list to match a function's own error.
_MATCH_FUNCTION_ERRORS = {"States.ALL", "States.TaskFailed"}
_LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INPUT = "{% $states.input %}"


def select(mark: Location, path: Any, origin: Location | None = None) -> Location | None:
    """Return where the mark is in what a JSONPath selects, ``None`` when it is not there.

    ``origin`` is where it is in the execution's input (for ``$$.Execution.Input``).
    """
    origin = mark if origin is None else origin
    if not isinstance(path, str):
        return None  # null (an empty input) or a value that is not a path
    path = path.strip()
    m = re.fullmatch(r"States\.JsonToString\((.+)\)", path)
    if m:  # the mark travels inside a JSON string, which the ledger reads too
        return select(mark, m.group(1), origin)
    if path.startswith("$$.Execution.Input"):
        mark, path = origin, "$" + path[len("$$.Execution.Input") :]
    if not path.startswith("$") or path.startswith("$$"):
        return None
    keys = path[1:].split(".")[1:] if path != "$" else []
    if path != "$" and (not path.startswith("$.") or not all(_KEY.fullmatch(k) for k in keys)):
        return None  # brackets, filters, wildcards: not followed
    n = len(keys)
    if tuple(keys) == mark[:n] and n < len(mark):
        return mark[n:]
    return None


def _parameters(mark: Location, params: Any, origin: Location) -> Location | None:
    """Return where the mark is in what a ``Parameters`` block builds from the input."""
    if not isinstance(params, Mapping):
        return None
    for key, value in params.items():
        if not isinstance(key, str):
            continue
        if key.endswith(".$"):
            found = select(mark, value, origin)
            if found is not None:
                return (key[:-2], *found)
        elif isinstance(value, Mapping):
            found = _parameters(mark, value, origin)
            if found is not None:
                return (key, *found)
    return None


def _jsonata(state: Mapping[str, Any], machine: Mapping[str, Any]) -> bool:
    return (state.get("QueryLanguage") or machine.get("QueryLanguage")) == "JSONata"


def _effective_input(
    state: Mapping[str, Any], mark: Location, origin: Location, jsonata: bool
) -> Location | None:
    """Return where the mark is in the state's effective input (after InputPath/Parameters)."""
    if jsonata:
        return mark
    if "InputPath" in state:
        found = select(mark, state["InputPath"], origin)
        if found is None:
            return None
        mark = found
    return mark


def _output(
    state: Mapping[str, Any], mark: Location, origin: Location, jsonata: bool
) -> tuple[Location | None, str]:
    """Return where the mark is in a state's output (the next state's input), or why not."""
    name = state.get("Type")
    if jsonata:
        if "Output" in state:
            keep = state["Output"] == _INPUT
            return (mark if keep else None), "its Output replaces the input"
        if name in ("Pass", "Wait"):
            return mark, ""
        return None, "its output is its result, not its input"
    raw = mark
    effective = _effective_input(state, mark, origin, jsonata)
    if name in ("Pass",) and "Result" not in state:
        result = (
            _parameters(effective, state["Parameters"], origin)
            if effective is not None and "Parameters" in state
            else effective
        )
    elif name in ("Wait",):
        result = effective
    else:
        result = None  # a task's, a Parallel's or a Map's result, or a Pass's constant
    result_path = state.get("ResultPath", "$")
    if name == "Wait":
        out: Location | None = result
    elif result_path is None:
        out = raw  # the result is discarded: the state's own input goes on
    elif result_path == "$":
        out = result
    else:
        keys = tuple(str(result_path)[2:].split("."))
        out = None if raw[: len(keys)] == keys else raw  # the result lands beside the mark
    if out is None:
        return None, "its result replaces the input"
    if "OutputPath" in state:
        out = select(out, state["OutputPath"], origin)
        if out is None:
            return None, "its OutputPath leaves the mark out"
    return out, ""


def _task_input(
    state: Mapping[str, Any], mark: Location, origin: Location, jsonata: bool
) -> tuple[Location | None, str]:
    """Return where the mark is in the payload a Lambda task state hands its function."""
    resource = state.get("Resource")
    invoke = isinstance(resource, str) and resource.startswith(_LAMBDA_INVOKE)
    if isinstance(resource, str) and resource.endswith(".waitForTaskToken"):
        return None, "it waits for a task token, which the experiment does not send back"
    if jsonata:
        args = state.get("Arguments")
        if args is None or (invoke and isinstance(args, Mapping) and "Payload" not in args):
            return mark, ""
        if invoke and isinstance(args, Mapping) and args.get("Payload") == _INPUT:
            return mark, ""
        return None, "its Arguments do not pass the state's input on"
    effective = _effective_input(state, mark, origin, jsonata)
    if effective is None:
        return None, "its InputPath leaves the mark out"
    params = state.get("Parameters")
    if params is None:
        return effective, ""
    if invoke and isinstance(params, Mapping):
        if "Payload.$" in params:
            found = select(effective, params["Payload.$"], origin)
        elif "Payload" in params:
            found = _parameters(effective, params["Payload"], origin)
        else:
            return effective, ""  # no Payload: the state's input is the payload
    else:
        found = _parameters(effective, params, origin)
    if found is None:
        return None, "its Parameters leave the mark out"
    return found, ""


def _walk(
    machine: Mapping[str, Any],
    states: Mapping[str, Any],
    start: Any,
    steps: list[str],
    mark: Location,
    origin: Location,
) -> tuple[Mapping[str, Any] | None, Location | None, str]:
    """Follow ``Next`` from ``start`` to the task at ``steps`` (nested through Parallel).

    Returns the task's state and where the mark is in its input, or ``None`` and why.
    """
    name, seen = start, set()
    while isinstance(name, str) and name not in seen:
        seen.add(name)
        state = states.get(name)
        if not isinstance(state, Mapping):
            break
        jsonata = _jsonata(state, machine)
        if name == steps[0] and len(steps) == 1:
            return state, mark, ""
        if name == steps[0]:  # a Parallel branch on the way to a nested task
            if state.get("Type") != "Parallel":
                return (
                    None,
                    None,
                    f"it runs inside {state.get('Type')} state {name}, one item at a time",
                )
            inner = _effective_input(state, mark, origin, jsonata)
            if inner is not None and not jsonata and "Parameters" in state:
                inner = _parameters(inner, state["Parameters"], origin)
            if inner is None or (jsonata and "Arguments" in state):
                return None, None, f"Parallel state {name} does not pass the input to its branches"
            try:
                branch = state["Branches"][int(steps[1])]
            except (KeyError, IndexError, ValueError, TypeError):
                break
            return _walk(
                machine, branch.get("States") or {}, branch.get("StartAt"), steps[2:], inner, origin
            )
        kind = state.get("Type")
        if kind == "Choice":
            return None, None, f"Choice state {name} on the way decides which events reach it"
        if kind in ("Succeed", "Fail") or state.get("End"):
            break
        mark_after, why = _output(state, mark, origin, jsonata)
        if mark_after is None:
            return None, None, f"{kind} state {name} on the way: {why}"
        mark = mark_after
        name = state.get("Next")
    return None, None, "it is not on the way from StartAt (only a Catch or a loop leads to it)"


@dataclass
class Reach:
    """Where the mark is when a task state gets an execution's input, or why it is not."""

    state_input: Location | None  # in the task state's input
    payload: Location | None  # in the payload its function gets
    why: str = ""


def reach(sm: StateMachine, task: TaskState, mark: Location) -> Reach:
    """Return where the mark is when ``task`` runs, or why it does not get there.

    Args:
        sm: the state machine (its parsed definition).
        task: one of its Lambda task states.
        mark: where the mark is in the execution's input.
    """
    definition = sm.definition or {}
    states = definition.get("States") or {}
    state, at, why = _walk(
        definition, states, definition.get("StartAt"), task.path.split("/"), mark, mark
    )
    if state is None or at is None:
        return Reach(None, None, why)
    payload, why = _task_input(state, at, mark, _jsonata(state, definition))
    return Reach(at, payload, why)


@dataclass
class Failure:
    """What happens to an event whose task function fails."""

    retries: str  # "Step Functions retries the task 2 time(s)..." or why it does not
    #: Seconds Step Functions waits before each retry of a function's error.
    waits: tuple[float, ...] = ()
    #: The queue (logical ID) a caught event is sent to, on an input that holds the mark.
    sink: str | None = None
    #: Why a failing event is lost, or lost to chaoskit's view.
    loses: str | None = None
    notes: list[str] = field(default_factory=list)


def _matching(rules: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the first Retry or Catch rule that applies to a function's own error."""
    for rule in rules:
        names = {e for e in rule.get("ErrorEquals") or [] if isinstance(e, str)}
        if names & _MATCH_FUNCTION_ERRORS or "ChaosKitInjectedError" in names:
            return rule
    return None


def _retries(task: TaskState) -> tuple[str, tuple[float, ...]]:
    """Return the task's retries of a function's error in words, and the wait before each."""
    rule = _matching(task.retry)
    if rule is None:
        named = sorted(task.retried_errors)
        if named:
            return f"its Retry names only {', '.join(named)}, not a function's own errors", ()
        return "the task has no Retry", ()
    attempts = rule.get("MaxAttempts", 3)
    interval = rule.get("IntervalSeconds", 1)
    backoff = rule.get("BackoffRate", 2.0)
    cap = rule.get("MaxDelaySeconds")
    if not isinstance(attempts, int) or attempts <= 0:
        return "its matching Retry rule allows no attempt", ()
    if not isinstance(interval, int | float) or not isinstance(backoff, int | float):
        return f"Step Functions retries the task {attempts} time(s)", ()
    waits = [float(interval) * float(backoff) ** i for i in range(attempts)]
    if isinstance(cap, int | float):
        waits = [min(w, float(cap)) for w in waits]
    return (
        f"Step Functions retries the task {attempts} time(s), {interval} s apart at first "
        f"(backoff {backoff})",
        tuple(waits),
    )


def failure_path(sm: StateMachine, task: TaskState, mark: Location, origin: Location) -> Failure:
    """Return how ``task``'s failures are retried, and where a failing event ends.

    Args:
        sm: the state machine.
        task: one of its Lambda task states.
        mark: where the mark is in the task state's own input (before its InputPath).
        origin: where it is in the execution's input (for ``$$.Execution.Input``).
    """
    retries, waits = _retries(task)
    rule = _matching(task.catch)
    if rule is None:
        if task.enclosing_catch:
            why = "only a state around the task has a Catch, which chaoskit does not follow"
        else:
            why = (
                "the task has no Catch for a function's errors: an execution whose task fails "
                "every attempt fails, and its event stays only in the execution's history"
            )
        return Failure(retries, waits, loses=why)
    definition = sm.definition or {}
    states = _states_around(definition, task.path)
    result_path = rule.get("ResultPath", "$")
    caught: Location | None
    if result_path is None:
        caught = mark
    elif result_path == "$":
        caught = None
    else:
        keys = tuple(str(result_path)[2:].split("."))
        caught = None if mark[: len(keys)] == keys else mark
    name = rule.get("Next")
    by_path = {t.path.rsplit("/", 1)[-1]: t for t in sm.tasks if _siblings(t.path, task.path)}
    seen: set[str] = set()
    while isinstance(name, str) and name not in seen and caught is not None:
        seen.add(name)
        state = states.get(name)
        if not isinstance(state, Mapping):
            break
        kind = state.get("Type")
        jsonata = _jsonata(state, definition)
        target = by_path.get(name)
        if kind == "Task" and target is not None and target.sends_to is not None:
            body = _sent_body(state, caught, origin, jsonata)
            resource = str(state.get("Resource"))
            where = target.sends_to.logical_id or target.sends_to.symbol or "?"
            if body is None:
                return Failure(
                    retries,
                    waits,
                    loses=f"its Catch leads to state {name}, which sends a message without the "
                    "event's mark",
                )
            if "sqs:sendMessage" in resource and target.sends_to.logical_id:
                return Failure(retries, waits, sink=target.sends_to.logical_id)
            return Failure(
                retries,
                waits,
                loses=f"its Catch sends the event to {where} (state {name}), which chaoskit "
                "cannot read",
            )
        if kind in ("Fail", "Succeed") or state.get("End") or kind != "Pass":
            what = {"Fail": "fails the execution", "Succeed": "ends the execution"}.get(
                str(kind),
                "ends the execution"
                if kind == "Pass"
                else f"is a {kind} state chaoskit does not follow",
            )
            return Failure(
                retries,
                waits,
                loses=f"its Catch leads to state {name}, which {what}: the event goes nowhere "
                "chaoskit can read",
            )
        caught, why = _output(state, caught, origin, jsonata)
        if caught is None:
            return Failure(
                retries, waits, loses=f"Pass state {name} after its Catch: {why}, the mark with it"
            )
        name = state.get("Next")
    if caught is None:
        return Failure(
            retries,
            waits,
            loses="its Catch replaces the event with the error (ResultPath $), so where it ends "
            "carries no mark",
        )
    return Failure(retries, waits, loses="its Catch leads nowhere chaoskit can follow")


def _sent_body(
    state: Mapping[str, Any], mark: Location, origin: Location, jsonata: bool
) -> Location | None:
    """Return where the mark is in the message an ``sqs:sendMessage`` state sends."""
    if jsonata:
        args = state.get("Arguments")
        body = args.get("MessageBody") if isinstance(args, Mapping) else None
        return mark if body == _INPUT else None
    effective = _effective_input(state, mark, origin, jsonata)
    params = state.get("Parameters")
    if effective is None or not isinstance(params, Mapping):
        return None
    if "MessageBody.$" in params:
        return select(effective, params["MessageBody.$"], origin)
    if isinstance(params.get("MessageBody"), Mapping):
        return _parameters(effective, params["MessageBody"], origin)
    if "Message.$" in params:
        return select(effective, params["Message.$"], origin)
    return None


def _siblings(path: str, other: str) -> bool:
    return path.rsplit("/", 1)[0] == other.rsplit("/", 1)[0] if "/" in other else "/" not in path


def _states_around(definition: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """Return the ``States`` block that holds the state at ``path``."""
    states: Any = definition.get("States") or {}
    steps = path.split("/")
    while len(steps) > 1:
        state = states.get(steps[0]) if isinstance(states, Mapping) else None
        try:
            if isinstance(state, Mapping) and state.get("Type") == "Parallel":
                states = state["Branches"][int(steps[1])].get("States") or {}
                steps = steps[2:]
                continue
            if isinstance(state, Mapping):
                inner = state.get("ItemProcessor") or state.get("Iterator") or {}
                states = inner.get("States") or {}
                steps = steps[1:]
                continue
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            pass
        return {}
    return states if isinstance(states, Mapping) else {}


def mark_at_start(via_rule: bool) -> Location:
    """Return where the mark is in an execution's input: started directly, or by a rule."""
    return ("detail", MARK) if via_rule else (MARK,)

"""The chaoskit Chaos Toolkit control: rollbacks that always run, and stop conditions.

Declare it in an experiment (``chaoskit run`` adds it for you)::

    controls:
      - name: chaoskit
        provider:
          type: python
          module: chaoskit.undo.control

What it does, whatever ``--rollback-strategy`` says:

- when the run ends (completed, deviated, failed, interrupted by Ctrl-C,
  SIGTERM or a stop alarm) it restores every change of the run still in the
  undo journal, newest first, with Ctrl-C and SIGTERM held off meanwhile
  (SIGTERM interrupts the run like Ctrl-C, where chaoslib would only fail the
  current activity and carry on); a
  second sweep in ``cleanup_control`` covers an exception that skipped the
  first;
- it writes ``journal["chaoskit"]["changes"]`` (``action, resource, status,
  applied_at, restored_at``), ``run_id`` and, if one fired, ``stop_alarm``;
- an action refused by a guardrail (``SafetyAbort``: allowlist, a resource
  held by another run) interrupts the run, recorded as ``safety_abort``,
  instead of chaoslib's default of logging a failed activity and going on;
- with ``chaoskit_stop_alarms: [names]`` it refuses to start while one of
  them is in ALARM or missing, polls them in a background thread every
  ``chaoskit_stop_alarm_interval`` seconds (default 10), and on ALARM aborts
  the run: the current activity is interrupted (chaoslib's graceful exit
  signal, SIGUSR1) and the next one is refused.
"""

import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chaoslib.exceptions import InterruptExecution
from chaoslib.types import Activity, Configuration, Experiment, Journal, Secrets

from chaoskit import aws
from chaoskit.arguments import check_arguments
from chaoskit.errors import BadInput, ChaosKitError, SafetyAbort
from chaoskit.interrupts import note_signal
from chaoskit.run_context import current_run_id, set_run_id
from chaoskit.stack_refs import resolve_experiment
from chaoskit.undo import store
from chaoskit.undo.alarms import DEFAULT_INTERVAL, AlarmWatcher, alarm_names
from chaoskit.undo.restore import rollback_run
from chaoskit.undo.settings import setting

__all__ = [
    "after_activity_control",
    "after_experiment_control",
    "before_activity_control",
    "before_experiment_control",
    "change_rows",
    "cleanup_control",
    "configure_control",
]

logger = logging.getLogger("chaostoolkit.chaoskit")


def _interrupt_main_thread(name: str) -> None:
    # chaoslib turns SIGUSR1 into a graceful exit (SystemExit(20)) that still plays
    # rollbacks; only send it when that handler is in place, or it would kill the process.
    handler = signal.getsignal(signal.SIGUSR1) if hasattr(signal, "SIGUSR1") else None
    if callable(handler):
        os.kill(os.getpid(), signal.SIGUSR1)


@dataclass
class _Run:
    run_id: str
    configuration: dict[str, Any]
    watcher: AlarmWatcher | None = None
    swept: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    terminated: bool = False
    previous_sigterm: Any = None
    safety_abort: str | None = None
    refusal: str | None = None
    method_probes: set[int] = field(default_factory=set)


def _on_sigterm(signum: int, frame: Any) -> None:
    # chaoslib raises InterruptExecution here, which the running python activity
    # reports as a mere failure and the run goes on. Leave the way SIGUSR1 does
    # instead: the run is interrupted, rollbacks and this control's sweep still run.
    run = _run
    if run is not None:
        run.terminated = True
    note_signal()
    logger.warning("SIGTERM received: interrupting the run, then restoring its changes")
    raise SystemExit(20)


_lock = threading.Lock()
_run: _Run | None = None

#: What the watcher calls on ALARM; tests replace it.
interrupt: Callable[[str], None] = _interrupt_main_thread


def configure_control(
    configuration: Configuration = None,
    secrets: Secrets = None,
    settings: Any = None,
    experiment: Experiment = None,
) -> None:
    """Fix the run id for the run and start watching its stop alarms."""
    global _run
    config = configuration if isinstance(configuration, dict) else {}
    run_id = set_run_id(current_run_id(config))
    # Activities receive this same mapping: they then agree on the run id.
    config.setdefault("chaoskit_run_id", run_id)
    current = _Run(run_id=run_id, configuration=dict(config))
    with _lock:
        previous, _run = _run, current
    if previous is not None and not previous.swept:
        try:
            _sweep(previous)  # a run in this process that never reached its cleanup
        except Exception as err:  # never unregister this control (see below)
            logger.error("could not restore run %s: %s", previous.run_id, err)
    if threading.current_thread() is threading.main_thread():
        current.previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
    # chaoslib drops a control whose configure_control raises, and with it every
    # restore: a bad guardrail setting must refuse the run, not unregister the control.
    try:
        names = alarm_names(setting(config, "chaoskit_stop_alarms"))
        interval = float(setting(config, "chaoskit_stop_alarm_interval", DEFAULT_INTERVAL))
    except (ChaosKitError, TypeError, ValueError) as err:
        current.refusal = f"invalid guardrail settings: {err}"
        return
    if names:
        current.watcher = AlarmWatcher(
            names, lambda name: interrupt(name), config, interval=interval
        )


def before_experiment_control(
    context: Experiment,
    configuration: Configuration = None,
    secrets: Secrets = None,
    **kwargs: Any,
) -> None:
    """Resolve stack references; refuse to start while a stop alarm is in ALARM or missing."""
    run = _run
    if run is not None and isinstance(context, dict):
        run.method_probes = {
            id(a)
            for a in context.get("method") or []
            if isinstance(a, dict) and a.get("type") == "probe" and "tolerance" in a
        }
    if run is not None and run.refusal:
        raise InterruptExecution(run.refusal)
    _resolve_references(context, configuration)
    if isinstance(context, dict):
        # Under plain `chaos run`, argument types and ranges are checked here, once.
        try:
            check_arguments(context, "experiment", configuration)
        except BadInput as err:
            raise InterruptExecution(str(err)) from err
    if run is None or run.watcher is None:
        return
    watcher = run.watcher
    try:
        missing = watcher.missing()
    except ChaosKitError as err:
        raise InterruptExecution(f"cannot read the stop alarms: {err}") from err
    if missing:
        raise InterruptExecution(
            f"stop alarm(s) {', '.join(missing)} not found: fix chaoskit_stop_alarms"
        )
    name = watcher.check()
    if name:
        watcher.tripped = name
        raise InterruptExecution(f"stop alarm '{name}' is in ALARM: the run does not start")
    watcher.start()


def _resolve_references(experiment: Experiment, configuration: Configuration) -> None:
    # Under plain `chaos run` this is where `stack:` and `output:` references are
    # resolved, once, before the first activity (`chaoskit run` did it already).
    if not isinstance(experiment, dict):
        return
    config = configuration if isinstance(configuration, dict) else None
    try:
        resolve_experiment(experiment, config)
    except ChaosKitError as err:
        raise InterruptExecution(f"stack references: {err}") from err


def before_activity_control(
    context: Activity,
    configuration: Configuration = None,
    secrets: Secrets = None,
    **kwargs: Any,
) -> None:
    """Refuse the next activity once a stop alarm has fired; use its AWS secrets.

    The clients chaoskit builds while the activity runs take their credentials
    from the secret scopes the activity's provider names (as chaoslib hands
    them to the activity), so helpers deep in an action use them too.
    """
    aws.use_secrets(_activity_secrets(context, secrets))
    run = _run
    if run is not None and run.terminated:
        raise InterruptExecution("SIGTERM received: run aborted")
    if run is not None and run.watcher is not None and run.watcher.tripped:
        raise InterruptExecution(f"stop alarm '{run.watcher.tripped}' is in ALARM: run aborted")


def _activity_secrets(activity: Activity, secrets: Secrets) -> dict[str, Any]:
    provider = (activity or {}).get("provider") or {}
    merged: dict[str, Any] = {}
    for scope in provider.get("secrets") or []:
        scoped = (secrets or {}).get(scope)
        if isinstance(scoped, dict):
            merged.update(scoped)
    return merged


_RAISED = re.compile(r"([A-Za-z_][\w.]*)\.([A-Za-z_]\w*): (.+)")


def _safety_abort(run_state: Any) -> str | None:
    """Return the message of a guardrail refusal recorded in a failed activity's run."""
    if not isinstance(run_state, dict) or run_state.get("status") != "failed":
        return None
    for line in "".join(run_state.get("exception") or []).splitlines():
        for found in _RAISED.finditer(line):
            module = sys.modules.get(found.group(1))  # only classes already imported
            cls = getattr(module, found.group(2), None)
            if isinstance(cls, type) and issubclass(cls, SafetyAbort):
                return found.group(3).strip()
    return None


def after_activity_control(
    context: Activity,
    state: Any = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
    **kwargs: Any,
) -> None:
    """Abort the run when an action was refused by a guardrail (allowlist, held lock).

    chaoslib records any activity error as a failed activity and carries on;
    a refusal means the experiment targets what it must not, so nothing more runs.
    """
    run = _run
    if run is not None and id(context) in run.method_probes:
        _judge_method_probe(context, state, configuration, secrets)
    message = _safety_abort(state)
    if run is None or message is None:
        return
    run.safety_abort = message
    raise InterruptExecution(f"safety abort: {message}")


def _judge_method_probe(
    probe: Activity, state: Any, configuration: Configuration, secrets: Secrets
) -> None:
    """Fail a method probe whose output is out of its declared tolerance.

    chaoslib only judges tolerances in the steady-state hypothesis; in the
    method, a probe that did not observe what it is there to observe (the
    failover, the messages waiting) would pass the run.
    """
    if not isinstance(state, dict) or state.get("status") != "succeeded":
        return
    from chaoslib.hypothesis import within_tolerance

    tolerance = probe.get("tolerance")
    output = state.get("output")
    try:
        met = within_tolerance(tolerance, output, configuration, secrets)
    except Exception as err:  # a tolerance chaoslib cannot evaluate is not met
        logger.error("could not judge the tolerance of probe '%s': %s", probe.get("name"), err)
        met = False
    if met:
        return
    message = (
        f"probe '{probe.get('name')}' out of tolerance: got {output!r}, "
        f"expected {tolerance!r}: what it observes did not happen"
    )
    logger.error(message)
    state["status"] = "failed"
    state["exception"] = [f"chaoskit.errors.FaultNotObserved: {message}\n"]


def change_rows(run_id: str) -> list[dict[str, Any]]:
    """Return the run's changes as the report reads them."""
    return [
        {
            "id": c.get("id"),
            "action": c.get("action"),
            "resource": c.get("resource"),
            "status": c.get("status"),
            "applied_at": c.get("applied_at"),
            "restored_at": c.get("restored_at"),
        }
        for c in store.changes(run_id)
    ]


@contextmanager
def _signals_held() -> Iterator[None]:
    """Keep Ctrl-C and SIGTERM from cutting a restore short (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _later(signum: int, frame: Any) -> None:
        logger.warning("signal %s received while restoring: finishing the restores first", signum)

    previous = {s: signal.signal(s, _later) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _sweep(run: _Run) -> list[dict[str, Any]]:
    if run.watcher is not None:
        run.watcher.stop()
    with _signals_held():
        rows = rollback_run(run.run_id, run.configuration)
    run.swept = True
    run.rows.extend(rows)
    failed = [r for r in rows if r["status"] != "restored"]
    for row in failed:
        logger.error(
            "could not restore %s on '%s': %s; run 'chaoskit rollback --run-id %s'",
            row["action"],
            row["resource"],
            row.get("error"),
            run.run_id,
        )
    return rows


def after_experiment_control(
    context: Experiment,
    state: Journal,
    configuration: Configuration = None,
    secrets: Secrets = None,
    **kwargs: Any,
) -> None:
    """Restore whatever the run left changed and record the changes in the journal."""
    run = _run
    if run is None:
        return
    _sweep(run)
    if not isinstance(state, dict):
        return
    ext = state.get("chaoskit")
    if not isinstance(ext, dict):
        ext = state["chaoskit"] = {}
    ext["run_id"] = run.run_id
    ours = change_rows(run.run_id)
    ids = {row["id"] for row in ours}
    # Keep what another control recorded; replace our own rows with their latest state.
    kept = [
        c for c in ext.get("changes") or [] if not isinstance(c, dict) or c.get("id") not in ids
    ]
    ext["changes"] = [*kept, *ours]
    ext["rollback"] = list(run.rows)
    if run.watcher is not None and run.watcher.tripped:
        ext["stop_alarm"] = run.watcher.tripped
        state["status"] = "interrupted"
    if run.terminated:
        state["status"] = "interrupted"
    if run.safety_abort:
        ext["safety_abort"] = run.safety_abort
        state["status"] = "interrupted"


def cleanup_control() -> None:
    """Stop the alarm watcher; restore anything left if the final sweep never ran."""
    global _run
    with _lock:
        run, _run = _run, None
    if run is None:
        return
    try:
        if not run.swept:
            _sweep(run)
        elif run.watcher is not None:
            run.watcher.stop()
    finally:
        aws.use_secrets(None)  # the next run brings its own
        if run.previous_sigterm is not None and (
            threading.current_thread() is threading.main_thread()
        ):
            signal.signal(signal.SIGTERM, run.previous_sigterm)

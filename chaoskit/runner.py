"""Run one experiment file with chaoskit's controls, target and ledger summary.

:func:`run_experiment_file` is what ``chaoskit run``, game days and the
pytest plugin call. It loads the file (YAML or JSON), validates it with
chaoslib, merges the target configuration, gives the run a fresh run id,
adds the ``chaoskit.undo.control`` control (forced rollbacks, recorded
changes), runs it with rollbacks always played, fills ``journal["chaoskit"]``
from the ledger, writes the journal and returns a :class:`RunResult`.
"""

import copy
import importlib.util
import json
import logging
import os
import secrets
import socket
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ChaosException
from chaoslib.experiment import ensure_experiment_is_valid, run_experiment
from chaoslib.run import RunEventHandler

from chaoskit import envvars
from chaoskit.arguments import check_arguments
from chaoskit.aws import Target, resolve_target
from chaoskit.errors import BadInput
from chaoskit.files import write_private
from chaoskit.inputs import load_document, one_line, split_pairs
from chaoskit.interrupts import defer as defer_interrupts
from chaoskit.interrupts import one_interrupt
from chaoskit.ledger.reconcile import unsettled
from chaoskit.ledger.trace import new_run_id
from chaoskit.preflight import check_guardrails
from chaoskit.report.enrich import enrich_journal, uses_chaoskit_activities, uses_ledger
from chaoskit.report.model import ExperimentView, view_journal
from chaoskit.run_context import set_run_id
from chaoskit.shapes import AppReconciliation, JournalExtension, StageCounts
from chaoskit.stack_refs import format_resolutions, resolve_experiment, stack_name_of

__all__ = [
    "CONTROL",
    "RunResult",
    "journal_dir",
    "load_experiment_file",
    "new_seed",
    "parse_vars",
    "prepare_experiment",
    "run_experiment_file",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

#: The control every chaoskit run carries.
CONTROL: dict[str, Any] = {
    "name": "chaoskit",
    "provider": {"type": "python", "module": "chaoskit.undo.control"},
}


def journal_dir() -> Path:
    """Return the default folder for journals: ``$CHAOSKIT_HOME/journals``."""
    return Path(os.environ.get(envvars.HOME) or ".chaoskit") / "journals"


def load_experiment_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load an experiment from a YAML or JSON file and validate it with chaoslib.

    Raises:
        BadInput: the file is missing, does not parse, is not a mapping, or
            chaoslib finds it invalid. The message names the file.
    """
    file = Path(path)
    data = load_document(file, "experiment file")
    if not isinstance(data, dict):
        raise BadInput(
            f"experiment file '{file}' must hold a mapping with 'title', 'description' "
            f"and 'method', got {type(data).__name__}"
        )
    try:
        ensure_experiment_is_valid(data)
    except ChaosException as err:
        raise BadInput(f"experiment file '{file}' is invalid: {one_line(err)}") from err
    except (TypeError, AttributeError, KeyError, ValueError) as err:
        # chaoslib assumes the documented shape: a list where a mapping belongs crashes it.
        raise BadInput(
            f"experiment file '{file}' is invalid: {one_line(err)}: expected the shape of a "
            "Chaos Toolkit experiment (title, description, method of activities)"
        ) from err
    # Literal values only: ${name} values are checked by run_experiment_file once --var applies.
    check_arguments(data, f"experiment file '{file}'", configuration={})
    return data


def parse_vars(pairs: Sequence[str]) -> dict[str, Any]:
    """Turn ``key=value`` strings into a dict; values that parse as JSON are typed.

    Raises:
        BadInput: a pair has no ``=`` or an empty key.
    """
    out: dict[str, Any] = {}
    for key, raw in split_pairs(pairs, "--var", "key=value"):
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def prepare_experiment(
    experiment: Mapping[str, Any],
    run_id: str,
    target: str | None = None,
    endpoint_url: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a copy of ``experiment`` with the run's configuration and control merged in.

    Precedence (highest first): ``target``/``endpoint_url``/``variables``
    given here, then the experiment's own ``configuration``.
    """
    prepared = copy.deepcopy(dict(experiment))
    config = dict(prepared.get("configuration") or {})
    config.update(variables or {})
    if target:
        config["chaoskit_target"] = target
    if endpoint_url:
        config["chaoskit_endpoint_url"] = endpoint_url
    config["chaoskit_run_id"] = run_id
    prepared["configuration"] = config
    controls = list(prepared.get("controls") or [])
    if not any(c.get("name") == CONTROL["name"] for c in controls if isinstance(c, Mapping)):
        controls.append(copy.deepcopy(CONTROL))
    prepared["controls"] = controls
    return prepared


def _plain_config(configuration: Mapping[str, Any]) -> dict[str, Any]:
    # Configuration values may be {"type": "env", "key": ...}: resolve the ones we read.
    out: dict[str, Any] = {}
    for key, value in configuration.items():
        if isinstance(value, Mapping) and value.get("type") == "env":
            value = os.environ.get(str(value.get("key")), value.get("default"))
        out[key] = value
    return out


def _check_reachable(target: Target) -> None:
    """Refuse to start against a local endpoint that nothing listens on.

    Without this the run starts, every activity fails on a connection error,
    and the user reads a failed experiment instead of "start the sandbox".
    """
    if not (target.is_local and target.endpoint_url):
        return
    url = urllib.parse.urlsplit(target.endpoint_url)
    host, port = url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as err:
        hint = (
            "start it with 'chaoskit sandbox up'"
            if target.name == "sandbox"
            else "start LocalStack or pass --endpoint-url"
        )
        raise BadInput(
            f"nothing answers at {target.endpoint_url} (target '{target.name}'): {hint}"
        ) from err


@dataclass
class RunResult:
    """What one experiment run produced."""

    path: str
    run_id: str
    journal: dict[str, Any]
    journal_path: Path | None
    view: ExperimentView
    control_loaded: bool

    @property
    def status(self) -> str:
        """Return the journal's status (``completed``, ``failed``, ``interrupted``...)."""
        return self.view.status

    @property
    def deviated(self) -> bool:
        """Tell whether the steady-state hypothesis deviated."""
        return self.view.deviated

    @property
    def exit_code(self) -> int:
        """Return the CLI exit code.

        0 ok, 1 deviated/failed, 3 interrupted or not restored, 4 inconclusive
        (the hypothesis held but an injected fault fired zero times).
        """
        if self.view.unrestored or self.view.outcome == "interrupted":
            return 3
        if self.view.outcome == "inconclusive":
            return 4
        return 0 if self.view.ok else 1

    def summary(self) -> str:
        """Return a readable multi-line summary of the run."""
        v = self.view
        lines = [f"{v.title}: {v.outcome.upper()} (run {self.run_id}, status {v.status})"]
        if v.seed:
            lines.append(f"  seed: {v.seed} (rerun with --seed {v.seed})")
        if v.counts is not None:
            c = v.counts
            lines.append(f"  events: {c.line()}")
            if c.lost_ids:
                lines.append(f"  lost event ids: {', '.join(c.lost_ids[:10])}")
            ext: JournalExtension = self.journal.get("chaoskit", {})
            ledger: AppReconciliation | dict[str, Any] = ext.get("ledger") or {}
            for reason, n in (ledger.get("lost_reasons") or {}).items():
                lines.append(f"    lost, {reason}: {n}")
            lines.extend(_breakdown("stage", v.stages, ledger.get("terminal_stages") or []))
            lines.extend(_breakdown("queue", v.queues, []))
            if ledger.get("records_from_logs"):
                lines.append(
                    f"  ledger records read from function logs: {ledger['records_from_logs']}"
                )
            for warning in ledger.get("warnings") or []:
                lines.append(f"  warning: {warning}")
            for wait in _unsettled_waits(self.journal):
                lines.append(f"  not settled: {wait}")
        else:
            lines.append("  events: no ledger for this run")
        for fault in v.faults_fired:
            line = (
                f"  fault {fault.get('kind')} on '{fault.get('function')}' "
                f"(rate {fault.get('rate')}): fired {fault.get('fired')} times "
                f"on {fault.get('events')} events"
            )
            if fault.get("gave_up"):
                line += (
                    f"; {fault['gave_up']} call(s) failed for good on it, "
                    f"{fault.get('swallowed') or 0} of them swallowed"
                )
            lines.append(line)
        for reason in v.inconclusive:
            lines.append(f"  inconclusive: {reason}")
        applied = v.applied_changes
        restored = [c for c in applied if c.restored]
        line = f"  faults applied: {len(applied)}; resources restored: {len(restored)}"
        failed = len(v.changes) - len(applied)
        lines.append(line + (f"; not applied: {failed}" if failed else ""))
        for change in v.changes:
            if not change.applied:
                mark = "not applied (the action failed; undone at once)"
            else:
                mark = "restored" if change.restored else "NOT RESTORED"
            lines.append(f"    - {change.action} on {change.resource}: {mark}")
        if not self.control_loaded:
            lines.append("  warning: chaoskit.undo.control is not installed; rollbacks ran alone")
        for step in v.failed_steps:
            lines.append(f"  method step '{step.name}' failed: {step.error or 'no error given'}")
        for probe in [*v.before, *v.after]:
            if probe.met is False:
                lines.append(f"  probe '{probe.name}' out of tolerance: got {probe.output}")
        if self.journal_path:
            lines.append(f"  journal: {self.journal_path}")
        return "\n".join(lines)


def _unsettled_waits(journal: Mapping[str, Any]) -> list[str]:
    """Say, for each settle wait of the run that timed out, what was still unsettled."""
    out = []
    for step in journal.get("run") or []:
        provider = (step.get("activity") or {}).get("provider") or {}
        output = step.get("output")
        if provider.get("func") != "wait_until_settled" or not isinstance(output, Mapping):
            continue
        if output.get("settled") is False:
            out.append(
                unsettled(
                    float(output.get("waited_s") or 0),
                    output.get("undrained") or {},
                    int(output.get("in_flight") or 0),
                )
            )
    return out


def _breakdown(what: str, table: Mapping[str, StageCounts], terminal: list[str]) -> list[str]:
    lines = []
    for name, c in table.items():
        mark = " (terminal)" if name in terminal else ""
        lines.append(
            f"  {what} {name}{mark}: {c.get('attempts', 0)} attempts, "
            f"{c.get('processed', 0)} processed, {c.get('failed', 0)} failed, "
            f"{c.get('duplicates', 0)} duplicates, {c.get('dead_lettered', 0)} dead-lettered"
        )
    return lines


def new_seed() -> str:
    """Return a fresh run seed."""
    return str(secrets.randbelow(2**31))


@one_interrupt
def run_experiment_file(
    path: str | os.PathLike[str],
    target: str | None = None,
    endpoint_url: str | None = None,
    variables: Mapping[str, Any] | None = None,
    journal_path: str | os.PathLike[str] | None = None,
    event_handlers: Sequence[RunEventHandler] = (),
    read_records: Any = None,
    say: Callable[[str], None] | None = None,
    seed: str | int | None = None,
) -> RunResult:
    """Run one experiment file and write its journal.

    Args:
        path: the experiment file (``.yaml``, ``.yml`` or ``.json``).
        target: ``sandbox``, ``localstack`` or ``aws``; beats the experiment's configuration.
        endpoint_url: explicit endpoint for every AWS service.
        variables: configuration overrides (``--var key=value``).
        journal_path: where to write the journal; default
            ``$CHAOSKIT_HOME/journals/<run id>.json``.
        event_handlers: chaoslib run event handlers (progress displays).
        read_records: ``(run_id, configuration) -> [Record]``; default reads
            the ledger table of the target.
        say: where to print the stack references resolved before the run
            (``stack:LogicalId``, ``output:Key``; see :mod:`chaoskit.stack_refs`).
        seed: the run's seed (beats configuration ``chaoskit_seed``; default a
            fresh one): rate rolls are a function of the seed, the fault and
            the event, so the same seed fires the same faults on the same events.

    Raises:
        BadInput: the file or the target is invalid; nothing has run.
    """
    experiment = load_experiment_file(path)
    run_id = set_run_id(new_run_id())
    prepared = prepare_experiment(experiment, run_id, target, endpoint_url, variables)
    config = _plain_config(prepared["configuration"])
    run_seed = str(seed if seed not in (None, "") else config.get("chaoskit_seed") or new_seed())
    prepared["configuration"]["chaoskit_seed"] = config["chaoskit_seed"] = run_seed
    resolved = resolve_target(config)  # raises BadInput before anything runs
    check_arguments(prepared, f"experiment file '{path}'", config)
    check_guardrails(config)
    if uses_chaoskit_activities(prepared):
        _check_reachable(resolved)
    # Once per run, before anything runs: a reference the stack cannot answer is bad input.
    references = resolve_experiment(prepared, prepared["configuration"], settings=config)
    if references and say is not None:
        say(format_resolutions(str(stack_name_of(config)), references))
    try:
        control_loaded = importlib.util.find_spec(CONTROL["provider"]["module"]) is not None
    except ModuleNotFoundError:  # a parent package is missing
        control_loaded = False
    if not control_loaded:
        logger.warning("control module %s is not installed", CONTROL["provider"]["module"])
    if say is not None:  # once the input is known good: errors stay one line
        say(f"run {run_id}: seed {run_seed}")
    settings = {"runtime": {"rollbacks": {"strategy": "always"}}}
    journal = run_experiment(
        prepared,
        settings=settings,
        event_handlers=list(event_handlers),
    )
    defer_interrupts()  # the run is over: a Ctrl-C now must not lose its journal
    enrich_journal(
        journal,
        run_id,
        config,
        resolved.name,
        read_records=read_records,
        with_ledger=uses_ledger(prepared, config),
    )
    journal.setdefault("chaoskit", {})["seed"] = run_seed
    if references:
        ext = journal.setdefault("chaoskit", {})
        ext["stack"] = {
            "name": stack_name_of(config),
            "resolved": [
                {"reference": r.reference, "value": r.value, "type": r.resource_type}
                for r in references
            ],
        }
    out = Path(journal_path) if journal_path else journal_dir() / f"{run_id}.json"
    write_private(out, json.dumps(journal, indent=2, default=str))
    return RunResult(
        path=str(path),
        run_id=run_id,
        journal=journal,
        journal_path=out,
        view=view_journal(journal),
        control_loaded=control_loaded,
    )

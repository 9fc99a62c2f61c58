"""A real pybreaker breaker with the layer's listener, then the breaker probes over the ledger."""

from pathlib import Path

import pybreaker
import pytest

from chaoskit import envvars
from chaoskit.errors import AWSActionFailed
from chaoskit.layer import breaker as listener_module
from chaoskit.ledger import store
from chaoskit.ledger.records import Record
from chaoskit.ledger.trace import stamp
from probes import breaker as probe

RUN = "run-breaker"


class Down(Exception):
    pass


def _order(event_id: str) -> dict[str, object]:
    return stamp({"order_id": event_id}, RUN, event_id, 1.0)


def _fail(order: dict[str, object]) -> None:
    raise Down("payments down")


def _drive(cb: pybreaker.CircuitBreaker) -> int:
    """Fail until the breaker opens, serve fallbacks while open; return fallbacks served."""
    served = 0
    for i in range(5):
        order = _order(f"e{i}")
        try:
            cb.call(_fail, order)
        except Down:
            pass
        except pybreaker.CircuitBreakerError:
            served += listener_module.record_fallback(f"e{i}", "payments", configuration=cb._cfg)
    return served


def test_transitions_and_fallbacks_are_recorded_under_the_event_run(
    aws_env: dict[str, str],
) -> None:
    store.ensure_table(aws_env)
    cb = pybreaker.CircuitBreaker(
        fail_max=2, name="payments", listeners=[listener_module.LedgerListener("payments", aws_env)]
    )
    cb._cfg = aws_env  # type: ignore[attr-defined]
    assert _drive(cb) == 4  # the tripping call and the three refused
    cb.close()
    cfg = {**aws_env, "chaoskit_run_id": RUN}
    transitions = probe.get_breaker_transitions("payments", configuration=cfg)
    assert [(t["from"], t["to"]) for t in transitions] == [("closed", "open"), ("open", "closed")]
    assert transitions[0]["event_id"] == "e1"  # the call that tripped it
    assert probe.get_breaker_state("payments", configuration=cfg) == "closed"
    assert probe.count_fallbacks("payments", configuration=cfg) == 4
    assert probe.count_fallbacks("other", configuration=cfg) == 0
    opened_at = transitions[0]["t"]
    assert probe.is_breaker_opened_during_fault(
        "payments", start=opened_at - 1, end=opened_at + 1, configuration=cfg
    )
    assert not probe.is_breaker_opened_during_fault(
        "payments", start=opened_at + 5, configuration=cfg
    )


def test_the_fault_window_comes_from_the_undo_journal(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaoskit.undo import store as journal

    monkeypatch.setenv(envvars.HOME, str(tmp_path))
    journal.append(RUN, {"id": "c1", "action": "a", "resource": "f", "status": "pending"})
    journal.append(RUN, {"id": "c1", "status": "applied", "applied_at": 100.0})
    journal.append(RUN, {"id": "c1", "status": "restored", "restored_at": 200.0})
    store.ensure_table(aws_env)

    def transition(at: float, old: str, new: str) -> Record:
        return Record(RUN, "breaker:payments", "breaker", at, "payments", {"from": old, "to": new})

    store.write([transition(150.0, "closed", "open"), transition(210.0, "open", "closed")], aws_env)
    cfg = {**aws_env, "chaoskit_run_id": RUN}
    assert probe.is_breaker_opened_during_fault("payments", configuration=cfg)
    assert probe.is_breaker_closed_after_recovery("payments", configuration=cfg)
    store.write([transition(190.0, "open", "closed"), transition(195.0, "closed", "open")], aws_env)
    # Re-opened before the fault ended and still open? No: closed at 210, after recovery.
    assert probe.get_breaker_state("payments", configuration=cfg) == "closed"
    store.write([transition(300.0, "closed", "open")], aws_env)
    assert not probe.is_breaker_closed_after_recovery("payments", configuration=cfg)


def test_the_layer_still_enabled_does_not_stretch_the_fault_window(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layer stays on until the rollback, after the steady state is judged: counted as a
    fault, it left the window open, and a breaker that closed while the fault was still live
    passed as "closed after recovery"."""
    from chaoskit.ledger.records import Record
    from chaoskit.runs import fault_window
    from chaoskit.undo import store as journal

    monkeypatch.setenv(envvars.HOME, str(tmp_path))
    journal.append(RUN, {"id": "l", "action": "enable_chaoskit_layer", "resource": "f"})
    journal.append(RUN, {"id": "l", "status": "applied", "applied_at": 50.0})
    journal.append(RUN, {"id": "c1", "action": "inject_exception", "resource": "f"})
    journal.append(RUN, {"id": "c1", "status": "applied", "applied_at": 100.0})
    journal.append(RUN, {"id": "c1", "status": "restored", "restored_at": 200.0})
    store.ensure_table(aws_env)
    assert fault_window(RUN) == (100.0, 200.0)

    def transition(at: float, old: str, new: str) -> Record:
        return Record(RUN, "breaker:payments", "breaker", at, "payments", {"from": old, "to": new})

    store.write([transition(120.0, "closed", "open"), transition(160.0, "open", "closed")], aws_env)
    cfg = {**aws_env, "chaoskit_run_id": RUN}
    assert probe.is_breaker_opened_during_fault("payments", configuration=cfg)
    assert not probe.is_breaker_closed_after_recovery("payments", configuration=cfg)


def test_inside_a_function_the_layer_writer_is_used(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaoskit.layer import _aws

    _aws.reset()
    store.ensure_table(aws_env)
    listener = listener_module.LedgerListener("payments")  # no configuration: as inside Lambda
    listener.before_call(None, _fail, _order("e9"))
    listener.state_change(None, None, "open")
    assert listener_module.record_fallback("e9", "payments")
    monkeypatch.delenv(envvars.RUN_ID, raising=False)
    records = store.read_run(RUN, aws_env)
    assert sorted(r.kind for r in records) == ["breaker", "fallback"]
    assert all(r.event_id == "e9" for r in records)
    _aws.reset()


def test_no_run_known_means_nothing_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(envvars.RUN_ID, raising=False)
    monkeypatch.setattr(listener_module._current, "trace", None, raising=False)
    assert listener_module.record_fallback("x", "payments") is False


def test_the_listener_is_a_pybreaker_listener_and_loads_without_pybreaker() -> None:
    import subprocess
    import sys

    assert isinstance(listener_module.LedgerListener("payments"), pybreaker.CircuitBreakerListener)
    # Inside a function pybreaker or chaoslib may be absent: the module still loads.
    code = (
        "import sys; sys.modules['pybreaker'] = None; sys.modules['chaoslib'] = None\n"
        "from chaoskit.layer.breaker import LedgerListener\n"
        "print(LedgerListener.__mro__[1].__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "object"


def test_before_the_ledger_table_exists_the_breaker_probes_find_no_records(
    aws_env: dict[str, str],
) -> None:
    # The ledger table is created by the run's first write. A breaker probe in the
    # steady state before it (an experiment that starts with it, on a fresh target)
    # raised ResourceNotFoundException, and the run failed before doing anything.
    cfg = {**aws_env, "chaoskit_run_id": RUN}
    assert probe.is_breaker_closed_after_recovery("payments", configuration=cfg) is True
    assert probe.get_breaker_state("payments", configuration=cfg) == "closed"
    assert probe.count_fallbacks("payments", configuration=cfg) == 0
    with pytest.raises(AWSActionFailed) as raised:  # without missing_ok the reader still says so
        store.read_run(RUN, cfg)
    assert raised.value.code == "ResourceNotFoundException"
    store.ensure_table(aws_env)
    opened = Record(RUN, "breaker:payments", "breaker", 5.0, "payments", {"to": "open"})
    store.write([opened], aws_env)
    assert probe.get_breaker_state("payments", configuration=cfg) == "open"

"""One parser for yes/no settings: the table every flag is read with.

Before, five modules parsed flags their own way: ``chaoskit_remote_lock``
read anything but 0/false/no/off as on (``"nope"`` locked), the report's
``chaoskit_ledger`` read ``"off"`` differently from the journal's dry run.
"""

from typing import Any

import pytest

from chaoskit import envvars
from chaoskit.errors import BadInput
from chaoskit.report.enrich import uses_ledger
from chaoskit.undo.journal import is_dry_run
from chaoskit.undo.lock import remote_locking
from chaoskit.undo.mirror import enabled as mirror_enabled

ON = ["1", "true", "TRUE", " yes ", "On", True]
OFF = ["0", "false", "No", " off ", False]


@pytest.mark.parametrize("value", ON)
def test_on(value: object) -> None:
    assert envvars.is_truthy(value) is True
    assert envvars.parse_flag(value) is True


@pytest.mark.parametrize("value", OFF)
def test_off(value: object) -> None:
    assert envvars.is_truthy(value) is False
    assert envvars.parse_flag(value, default=True) is False


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_is_the_default(value: object) -> None:
    assert envvars.is_truthy(value) is False
    assert envvars.parse_flag(value, default=True) is True
    assert envvars.parse_flag(value, default=False) is False


@pytest.mark.parametrize("value", ["nope", "2", "enabled"])
def test_anything_else_is_off_in_the_environment_and_refused_as_a_setting(value: str) -> None:
    assert envvars.is_truthy(value) is False  # the layer fails safe: no fault
    with pytest.raises(ValueError, match=f"invalid value '{value}' for 'x'"):
        envvars.parse_flag(value, name="x")


@pytest.mark.parametrize(
    ("read", "key"),
    [
        (is_dry_run, "chaoskit_dry_run"),
        (mirror_enabled, "chaoskit_journal_mirror"),
        (remote_locking, "chaoskit_remote_lock"),
        (lambda cfg: uses_ledger({}, cfg), "chaoskit_ledger"),
    ],
)
def test_every_flag_setting_reads_the_same_table(
    read: Any, key: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(envvars.HOME, str(tmp_path))  # no settings file
    for value in ON:
        assert read({key: value}) is True, (key, value)
    for value in OFF:
        assert read({key: value}) is False, (key, value)
    with pytest.raises(BadInput, match=f"invalid value 'nope' for '{key}'"):
        read({key: "nope"})


@pytest.mark.parametrize("value", OFF)
def test_on_by_default_flags_turn_off_with_the_same_table(value: object) -> None:
    assert envvars.is_falsy(value) is True


@pytest.mark.parametrize("value", [*ON, None, "", "nope"])
def test_on_by_default_flags_stay_on_otherwise(value: object) -> None:
    assert envvars.is_falsy(value) is False


@pytest.mark.parametrize("value", OFF)
def test_reading_function_logs_turns_off_with_every_off_spelling(
    value: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaoskit.ledger import discover
    from chaoskit.ledger.records import Record

    calls: list[object] = []
    monkeypatch.setattr(discover, "log_records", lambda *a: calls.append(a) or ([], []))
    monkeypatch.setattr(discover, "dead_letter_queues", lambda *a: discover.Discovery())
    records = [Record("r", "e", "attempt", 1.0, "layer", {"function": "worker"})]
    discover.reconcile_with_app("r", records, {"chaoskit_read_logs": value})
    assert calls == []
    discover.reconcile_with_app("r", records, {"chaoskit_read_logs": "on"})
    assert len(calls) == 1

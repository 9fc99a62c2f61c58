"""The journal: durable records before the mutation, exact newest-first restores."""

import json
from pathlib import Path
from typing import Any

import pytest

from chaoskit.errors import BadInput, SafetyAbort
from chaoskit.undo import changes, mutation, pending_runs, rollback_run
from chaoskit.undo.store import journal_path

RESTORER = "ck_undo_steps:restore_value"


def cfg(run_id: str = "run-a", **extra: Any) -> dict[str, Any]:
    return {"chaoskit_run_id": run_id, "chaoskit_remote_lock": False, **extra}


def change_value(key: str, value: Any, config: dict[str, Any]) -> None:
    import ck_undo_steps

    previous = ck_undo_steps.read_state().get(key)
    with mutation(
        action="set_value",
        resource=key,
        restorer=RESTORER,
        snapshot={"key": key, "previous": previous},
        configuration=config,
    ) as change:
        if not change.dry_run:
            ck_undo_steps.set_value(key, value)


def state(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def test_the_change_is_journaled_pending_before_the_block_runs(file_state: Path) -> None:
    seen: list[list[dict[str, Any]]] = []
    with mutation("set_value", "k", RESTORER, {"key": "k", "previous": None}, cfg()):
        seen.append(changes("run-a"))
    assert [c["status"] for c in seen[0]] == ["pending"]
    record = seen[0][0]
    assert record["restorer"] == RESTORER
    assert record["snapshot"] == {"key": "k", "previous": None}
    # The target is resolved (defaults and environment included), never left empty.
    assert record["target"]["chaoskit_target"] == "sandbox"
    assert record["target"]["chaoskit_endpoint_url"].startswith("http://127.0.0.1:")
    assert record["target"]["aws_region"]
    assert changes("run-a")[0]["status"] == "applied"
    assert isinstance(changes("run-a")[0]["applied_at"], float)


def test_rollback_restores_newest_first_and_exactly(file_state: Path) -> None:
    import ck_undo_steps

    ck_undo_steps.set_value("k", 7)
    change_value("k", 0, cfg())
    change_value("k", 1, cfg())  # a second harm on top of the first
    change_value("fresh", 3, cfg())
    assert state(file_state) == {"k": 1, "fresh": 3}
    assert pending_runs() == ["run-a"]

    rows = rollback_run("run-a")

    assert [r["resource"] for r in rows] == ["fresh", "k", "k"]
    assert {r["status"] for r in rows} == {"restored"}
    assert state(file_state) == {"k": 7}
    assert pending_runs() == []
    assert rollback_run("run-a") == []  # twice is harmless
    assert state(file_state) == {"k": 7}
    assert all(c["status"] == "restored" and c["restored_at"] for c in changes("run-a"))


def test_a_failing_block_is_undone_at_once_and_the_error_propagates(file_state: Path) -> None:
    import ck_undo_steps

    ck_undo_steps.set_value("k", 7)
    with (
        pytest.raises(RuntimeError, match="half done"),
        mutation("set_value", "k", RESTORER, {"key": "k", "previous": 7}, cfg()),
    ):
        ck_undo_steps.set_value("k", 0)
        raise RuntimeError("half done")
    assert state(file_state) == {"k": 7}
    [change] = changes("run-a")
    assert change["status"] == "not-applied"
    assert change["restored_at"]
    assert pending_runs() == []


def test_an_unknown_restorer_refuses_before_the_mutation(file_state: Path) -> None:
    ran = []
    with (
        pytest.raises(BadInput, match="no function 'nope'"),
        mutation("set_value", "k", "ck_undo_steps:nope", {}, cfg()),
    ):
        ran.append(True)
    assert ran == []
    assert changes("run-a") == []


def test_dry_run_records_nothing_and_logs(
    file_state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="chaostoolkit.chaoskit"):
        change_value("k", 0, cfg(chaoskit_dry_run=True))
    assert state(file_state) == {}
    assert changes("run-a") == []
    assert "dry run: would set_value on 'k'" in caplog.text


def test_dry_run_can_come_from_the_settings_file(
    file_state: Path, undo_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    undo_home.mkdir(parents=True, exist_ok=True)
    (undo_home / "settings.yaml").write_text("chaoskit_dry_run: true\n")
    with caplog.at_level("INFO", logger="chaostoolkit.chaoskit"):
        change_value("k", 0, cfg())
    assert state(file_state) == {}
    assert "dry run" in caplog.text


def test_a_torn_last_line_is_ignored(file_state: Path) -> None:
    change_value("k", 0, cfg())
    with open(journal_path("run-a"), "a") as fh:
        fh.write('{"id": "x", "status": "rest')  # the crash happened mid-write
    assert [c["status"] for c in changes("run-a")] == ["applied"]
    rollback_run("run-a")
    assert state(file_state) == {}


def test_a_failed_restore_is_journaled_and_the_others_still_restore(file_state: Path) -> None:
    change_value("k", 0, cfg())
    change_value("broken", 1, cfg())
    rows = rollback_run("run-a")
    assert [(r["resource"], r["status"]) for r in rows] == [
        ("broken", "restore_failed"),
        ("k", "restored"),
    ]
    assert "cannot restore broken" in rows[0]["error"]
    assert pending_runs() == ["run-a"]
    assert state(file_state) == {"broken": 1}


def test_a_second_run_on_a_held_resource_refuses_naming_the_holder(file_state: Path) -> None:
    change_value("k", 0, cfg("run-a"))
    with pytest.raises(SafetyAbort, match="held by run 'run-a'"):
        change_value("k", 1, cfg("run-b"))
    assert state(file_state) == {"k": 0}
    change_value("other", 1, cfg("run-b"))  # other resources are free
    change_value("k", 2, cfg("run-a"))  # the holder may change it again
    rollback_run("run-a")
    change_value("k", 3, cfg("run-b"))
    assert state(file_state) == {"k": 3, "other": 1}


def test_the_run_id_comes_from_the_environment_without_configuration(
    file_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSKIT_RUN_ID", "env-run")
    change_value("k", 0, {"chaoskit_remote_lock": False})
    assert pending_runs() == ["env-run"]

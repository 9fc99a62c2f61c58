"""The kill switch against the moto server: exact restores, guardrails, twice is harmless."""

from pathlib import Path
from typing import Any

import pytest
from ck_faults_aws import make_function

from chaoskit import aws
from chaoskit.errors import SafetyAbort
from chaoskit.faults import kill_switch
from chaoskit.undo import changes, pending_runs, rollback_run


def reserved(config: dict[str, Any], name: str) -> int | None:
    found = aws.client("lambda", config).get_function_concurrency(FunctionName=name)
    value = found.get("ReservedConcurrentExecutions")
    return None if value is None else int(value)


@pytest.fixture
def config(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    return {**aws_env, "chaoskit_run_id": "run-a"}


def test_restores_the_previous_number(config: dict[str, Any]) -> None:
    make_function(config, "orders-worker")
    aws.client("lambda", config).put_function_concurrency(
        FunctionName="orders-worker", ReservedConcurrentExecutions=7
    )
    rows = kill_switch.set_reserved_concurrency(["orders-worker"], configuration=config)
    assert rows == [
        {"function_name": "orders-worker", "previous": 7, "concurrency": 0, "dry_run": False}
    ]
    assert reserved(config, "orders-worker") == 0
    assert [c["status"] for c in changes("run-a")] == ["applied"]

    restored = kill_switch.restore_reserved_concurrency(configuration=config)
    assert [r["status"] for r in restored] == ["restored"]
    assert reserved(config, "orders-worker") == 7
    assert kill_switch.restore_reserved_concurrency(configuration=config) == []
    assert reserved(config, "orders-worker") == 7


def test_restores_unreserved_rather_than_a_number(config: dict[str, Any]) -> None:
    make_function(config, "orders-worker")
    kill_switch.set_reserved_concurrency(["orders-worker"], configuration=config)
    assert reserved(config, "orders-worker") == 0
    rollback_run("run-a")  # what `chaoskit rollback` does: no configuration needed
    assert reserved(config, "orders-worker") is None
    assert pending_runs() == []


def test_running_the_action_twice_then_rollback_twice_restores_exactly(
    config: dict[str, Any],
) -> None:
    make_function(config, "orders-worker")
    aws.client("lambda", config).put_function_concurrency(
        FunctionName="orders-worker", ReservedConcurrentExecutions=7
    )
    kill_switch.set_reserved_concurrency(["orders-worker"], configuration=config)
    kill_switch.set_reserved_concurrency(["orders-worker"], concurrency=2, configuration=config)
    assert reserved(config, "orders-worker") == 2
    assert len(rollback_run("run-a", config)) == 2
    assert rollback_run("run-a", config) == []
    assert reserved(config, "orders-worker") == 7


def test_selects_by_arn_and_by_tag(config: dict[str, Any]) -> None:
    arn = make_function(config, "orders-a")
    make_function(config, "orders-b", tags={"chaos": "yes"})
    make_function(config, "orders-c", tags={"chaos": "no"})
    rows = kill_switch.set_reserved_concurrency(
        [arn], tags={"chaos": "yes"}, concurrency=3, configuration=config
    )
    assert [r["function_name"] for r in rows] == ["orders-a", "orders-b"]
    assert [reserved(config, n) for n in ("orders-a", "orders-b", "orders-c")] == [3, 3, None]
    kill_switch.restore_reserved_concurrency([arn], configuration=config)
    assert [reserved(config, n) for n in ("orders-a", "orders-b")] == [None, 3]


def test_the_allowlist_refuses_before_any_mutation(config: dict[str, Any]) -> None:
    make_function(config, "orders-a", tags={"chaos": "allowed"})
    make_function(config, "payments")
    config["chaoskit_allow"] = {"tags": {"chaos": "allowed"}}
    with pytest.raises(SafetyAbort, match="'payments' is outside the allowlist"):
        kill_switch.set_reserved_concurrency(["orders-a", "payments"], configuration=config)
    assert reserved(config, "orders-a") is None
    assert reserved(config, "payments") is None
    assert changes("run-a") == []


def test_dry_run_changes_nothing_and_prints(
    config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    make_function(config, "orders-worker")
    config["chaoskit_dry_run"] = True
    rows = kill_switch.set_reserved_concurrency(["orders-worker"], configuration=config)
    assert rows[0]["dry_run"] is True
    assert reserved(config, "orders-worker") is None
    assert changes("run-a") == []
    assert "would set_reserved_concurrency on 'orders-worker'" in capsys.readouterr().out


def test_a_second_run_on_the_same_function_refuses_naming_the_first(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    make_function(config, "orders-worker")
    kill_switch.set_reserved_concurrency(["orders-worker"], configuration=config)
    # Another machine: its own journal folder, the same target, so only the SSM lock sees it.
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "elsewhere"))
    other = {**config, "chaoskit_run_id": "run-b"}
    with pytest.raises(SafetyAbort, match="held by run 'run-a'"):
        kill_switch.set_reserved_concurrency(["orders-worker"], concurrency=5, configuration=other)
    assert reserved(config, "orders-worker") == 0
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    rollback_run("run-a")
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "elsewhere"))
    kill_switch.set_reserved_concurrency(["orders-worker"], concurrency=5, configuration=other)
    assert reserved(config, "orders-worker") == 5


def test_an_expired_lock_is_taken_over(config: dict[str, Any]) -> None:
    make_function(config, "orders-worker")
    aws.client("ssm", config).put_parameter(
        Name="/chaoskit/locks/orders-worker",
        Value='{"run_id": "dead-run", "expires_at": 1}',
        Type="String",
    )
    kill_switch.set_reserved_concurrency(["orders-worker"], configuration=config)
    assert reserved(config, "orders-worker") == 0

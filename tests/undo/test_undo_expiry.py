"""Every harmful change carries a deadline: in the journal, and as tags on the function."""

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws, envvars
from chaoskit.faults import kill_switch
from chaoskit.undo import changes, pending_runs, rollback_run
from chaoskit.undo.expiry import EXPIRES_TAG, RUN_TAG
from chaoskit.undo.store import journal_path
from tests.support.cli import exit_code as run


@pytest.fixture
def cfg(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv(envvars.HOME, str(tmp_path / "home"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return e\n")
    role = aws.client("iam", aws_env).create_role(RoleName="x", AssumeRolePolicyDocument="{}")
    for name, tags in (("orders-a", {"team": "orders"}), ("orders-b", {RUN_TAG: "mine"})):
        aws.client("lambda", aws_env).create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
            Tags=tags,
        )
    return {**aws_env, "chaoskit_remote_lock": False}


def tags(cfg: dict[str, Any], name: str) -> dict[str, str]:
    lam = aws.client("lambda", cfg)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    return dict(lam.list_tags(Resource=arn)["Tags"])


def test_a_changed_function_carries_its_deadline_until_restored(cfg: dict[str, Any]) -> None:
    config = {**cfg, "chaoskit_run_id": "run-e", "chaoskit_max_fault_duration": 600}
    kill_switch.set_reserved_concurrency(["orders-a", "orders-b"], configuration=config)
    [a, _] = changes("run-e")
    assert a["expires_at"] - a["recorded_at"] == pytest.approx(600, abs=1)
    during = tags(cfg, "orders-a")
    assert during[RUN_TAG] == "run-e" and during[EXPIRES_TAG].endswith("Z")
    assert during["team"] == "orders"
    rollback_run("run-e")
    assert tags(cfg, "orders-a") == {"team": "orders"}
    assert tags(cfg, "orders-b") == {RUN_TAG: "mine"}  # the user's own value is put back


def test_two_changes_on_one_function_keep_the_tag_until_the_last_is_restored(
    cfg: dict[str, Any],
) -> None:
    from chaoskit.faults import inject

    config = {**cfg, "chaoskit_run_id": "run-two"}
    kill_switch.set_reserved_concurrency(["orders-a"], configuration=config)
    inject.inject_latency("orders-a", ms=5, configuration=config)
    rollback_run("run-two", action="inject_latency")
    assert tags(cfg, "orders-a")[RUN_TAG] == "run-two"  # the kill switch is still on
    rollback_run("run-two")
    assert tags(cfg, "orders-a") == {"team": "orders"}


def test_rollback_expired_restores_only_what_is_past_its_deadline(cfg: dict[str, Any]) -> None:
    kill_switch.set_reserved_concurrency(
        ["orders-a"], configuration={**cfg, "chaoskit_run_id": "run-old"}
    )
    kill_switch.set_reserved_concurrency(
        ["orders-b"], configuration={**cfg, "chaoskit_run_id": "run-new"}
    )
    path = journal_path("run-old")
    events = [json.loads(line) for line in path.read_text().splitlines()]
    for event in events:
        if "expires_at" in event:
            event["expires_at"] = 1.0  # long past
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert run(["rollback", "--expired"]) == 0
    assert pending_runs() == ["run-new"]
    lam = aws.client("lambda", cfg)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(
        FunctionName="orders-a"
    )
    assert (
        lam.get_function_concurrency(FunctionName="orders-b")["ReservedConcurrentExecutions"] == 0
    )

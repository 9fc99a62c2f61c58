"""Undo restores where the change was made: the resolved target is journaled with it.

Against the moto server: a run whose region (or sandbox port, target, profile)
came from the environment must be rolled back in that region, whatever the
environment says at rollback time; "no longer exists" counts as restored only
when the target the change was made on says so.
"""

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws, envvars
from chaoskit.faults import layer
from chaoskit.faults.kill_switch import set_reserved_concurrency
from chaoskit.functions import config as lc
from chaoskit.undo import changes, pending_runs, rollback_run
from chaoskit.undo.store import journal_path
from tests.support.cli import exit_code as run

FUNCTION = "orders-notifier"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def _function(cfg: dict[str, Any]) -> None:
    role = aws.client("iam", cfg).create_role(RoleName="t-role", AssumeRolePolicyDocument="{}")
    lam = aws.client("lambda", cfg)
    lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"A": "1"}},
    )


def _layer(cfg: dict[str, Any]) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("python/x.py", "X = 1\n")
    out = aws.client("lambda", cfg).publish_layer_version(
        LayerName="chaoskit", Content={"ZipFile": buf.getvalue()}
    )
    return str(out["LayerVersionArn"])


@pytest.fixture
def west(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A configuration whose region comes only from the environment (us-west-2)."""
    monkeypatch.setenv(envvars.HOME, str(tmp_path / "home"))
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    aws.clear_cache()
    cfg = {k: v for k, v in aws_env.items() if k != "aws_region"}
    cfg["chaoskit_run_id"] = "run-west"
    cfg["chaoskit_remote_lock"] = False
    _function(cfg)
    return cfg


def _in_east(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.clear_cache()


def test_the_region_from_the_environment_is_journaled(west: dict[str, Any]) -> None:
    set_reserved_concurrency([FUNCTION], concurrency=0, configuration=west)
    target = changes("run-west")[0]["target"]
    assert target["aws_region"] == "us-west-2"
    assert target["chaoskit_target"] == "localstack"
    assert target["chaoskit_endpoint_url"] == west["chaoskit_endpoint_url"]


def test_rollback_under_another_region_restores_in_the_original_one(
    west: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = _layer(west)
    layer.enable_chaoskit_layer(FUNCTION, layer_arn=arn, configuration=west)
    set_reserved_concurrency([FUNCTION], concurrency=0, configuration=west)
    _in_east(monkeypatch)
    assert run(["rollback", "--all"]) == 0
    west_cfg = {**west, "aws_region": "us-west-2"}
    config = lc.get_configuration(FUNCTION, west_cfg)
    assert lc.environment_of(config) == {"A": "1"}
    assert lc.layer_arns(config) == []
    concurrency = aws.client("lambda", west_cfg).get_function_concurrency(FunctionName=FUNCTION)
    assert concurrency.get("ReservedConcurrentExecutions") is None
    assert pending_runs() == []


def test_an_entry_without_a_recorded_target_is_refused_not_counted_restored(
    west: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A journal written before targets were recorded: "target": {}.
    arn = _layer(west)
    layer.enable_chaoskit_layer(FUNCTION, layer_arn=arn, configuration=west)
    path = journal_path("run-west")
    events = [json.loads(line) for line in path.read_text().splitlines()]
    for event in events:
        if "target" in event:
            event["target"] = {}
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    _in_east(monkeypatch)
    rows = rollback_run("run-west")
    assert [r["status"] for r in rows] == ["restore_failed"]
    assert "target" in rows[0]["error"]
    assert pending_runs() == ["run-west"]
    assert run(["rollback", "--all"]) == 3
    # Saying where it was made lets it restore.
    where = ["--target", "localstack", "--endpoint-url", west["chaoskit_endpoint_url"]]
    assert run(["rollback", "--all", "--region", "us-west-2", *where]) == 0
    config = lc.get_configuration(FUNCTION, {**west, "aws_region": "us-west-2"})
    assert lc.environment_of(config) == {"A": "1"}


def test_a_function_gone_from_its_own_target_counts_as_restored(
    west: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = _layer(west)
    layer.enable_chaoskit_layer(FUNCTION, layer_arn=arn, configuration=west)
    aws.client("lambda", west).delete_function(FunctionName=FUNCTION)
    _in_east(monkeypatch)
    rows = rollback_run("run-west")
    assert [r["status"] for r in rows] == ["restored"]


def test_on_aws_the_account_is_journaled_and_another_account_is_refused(
    west: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The aws target, reaching the moto server through boto3's own AWS_ENDPOINT_URL.
    cfg = {"chaoskit_target": "aws", "chaoskit_run_id": "run-aws", "chaoskit_remote_lock": False}
    set_reserved_concurrency([FUNCTION], concurrency=0, configuration=cfg)
    target = changes("run-aws")[0]["target"]
    assert target["chaoskit_account_id"] == "123456789012"
    assert target["chaoskit_endpoint_url"] == west["chaoskit_endpoint_url"]
    assert target["aws_region"] == "us-west-2"
    # Rolled back with credentials of another account: refused, nothing touched.
    path = journal_path("run-aws")
    path.write_text(path.read_text().replace("123456789012", "999999999999"))
    _in_east(monkeypatch)
    rows = rollback_run("run-aws")
    assert [r["status"] for r in rows] == ["restore_failed"]
    assert "account 999999999999" in rows[0]["error"]
    found = aws.client("lambda", {**west, "aws_region": "us-west-2"}).get_function_concurrency(
        FunctionName=FUNCTION
    )
    assert found["ReservedConcurrentExecutions"] == 0
    assert pending_runs() == ["run-aws"]

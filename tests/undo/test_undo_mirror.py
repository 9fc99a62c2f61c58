"""The journal mirrored on the target: roll back a run whose local journal is lost."""

import shutil
from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws
from chaoskit.cli.main import main
from chaoskit.errors import AWSActionFailed
from chaoskit.undo import changes, mirror, mutation, pending_runs, rollback_run

RESTORER = "ck_undo_steps:restore_value"


def params(config: dict[str, Any]) -> dict[str, str]:
    ssm = aws.client("ssm", config)
    found = ssm.get_parameters_by_path(Path=mirror.PREFIX, Recursive=True)["Parameters"]
    return {p["Name"]: p["Value"] for p in found}


@pytest.fixture
def config(aws_env: dict[str, str], file_state: Path) -> dict[str, Any]:
    return {**aws_env, "chaoskit_run_id": "run-m", "chaoskit_journal_mirror": True}


def change(config: dict[str, Any], key: str = "k") -> None:
    import ck_undo_steps

    snapshot = {"key": key, "previous": 7}
    with mutation("set_value", key, RESTORER, snapshot, config) as ch:
        ck_undo_steps.set_value(key, 0)
    assert ch.dry_run is False


def test_each_change_is_copied_before_and_forgotten_after_its_restore(
    config: dict[str, Any],
) -> None:
    change(config)
    [record] = changes("run-m")
    assert list(params(config)) == [mirror.parameter_name("run-m", record["id"])]
    rollback_run("run-m")
    assert params(config) == {}


def test_off_by_default(config: dict[str, Any]) -> None:
    change({**config, "chaoskit_journal_mirror": False})
    assert params(config) == {}


def test_a_lost_journal_is_rolled_back_from_the_target(
    config: dict[str, Any], undo_home: Path, capsys: pytest.CaptureFixture
) -> None:
    import io
    import zipfile

    from chaoskit.faults.kill_switch import set_reserved_concurrency

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    role = aws.client("iam", config).create_role(RoleName="m", AssumeRolePolicyDocument="{}")
    lam = aws.client("lambda", config)
    for name in ("orders-a", "orders-b"):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
        )
    lam.put_function_concurrency(FunctionName="orders-a", ReservedConcurrentExecutions=7)
    set_reserved_concurrency(["orders-a", "orders-b"], concurrency=0, configuration=config)
    shutil.rmtree(undo_home / "journal")  # the machine that ran it is gone; its key is kept
    assert pending_runs() == []
    argv = ["rollback", "--all", "--from-target", "--target", "localstack"]
    argv += ["--endpoint-url", config["chaoskit_endpoint_url"]]
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "copied 2 change(s) of run run-m from the target" in out
    assert "restored set_reserved_concurrency on orders-b (run run-m)" in out
    assert (
        lam.get_function_concurrency(FunctionName="orders-a")["ReservedConcurrentExecutions"] == 7
    )
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(
        FunctionName="orders-b"
    )
    assert params(config) == {}
    assert mirror.pull(config) == {}  # nothing left on the target


def test_pull_keeps_what_the_local_journal_knows(config: dict[str, Any]) -> None:
    change(config)
    assert mirror.pull(config) == {}
    assert [c["status"] for c in changes("run-m")] == ["applied"]


def test_a_refused_copy_stops_the_change_before_it_is_made(
    config: dict[str, Any], file_state: Path
) -> None:
    from botocore.stub import Stubber

    config["chaoskit_remote_lock"] = False
    ssm = aws.client("ssm", config)
    with Stubber(ssm) as stub:
        stub.add_client_error("put_parameter", "AccessDeniedException", "not allowed")
        with pytest.raises(AWSActionFailed, match=r"ssm:PutParameter .* AccessDeniedException"):
            change(config)
    # Journaled first (so a crash there leaves nothing unaccounted for), then refused.
    assert [c["status"] for c in changes("run-m")] == ["not-applied"]
    assert not file_state.exists()

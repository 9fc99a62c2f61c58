"""`chaoskit rollback` in process: listing, restoring, failures exit 3, bad input exits 2."""

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def change_value(key: str, value: int, run_id: str) -> None:
    import ck_undo_steps  # on sys.path through the file_state fixture

    ck_undo_steps.change(key, value, {"chaoskit_run_id": run_id})


def state(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def test_nothing_pending(file_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["rollback"], capsys) == (
        0,
        "nothing to restore: every recorded change is restored\n",
        "",
    )


def test_list_then_restore_one_run(file_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    change_value("k", 0, "run-a")
    change_value("j", 1, "run-b")
    code, out, _ = run(["rollback"], capsys)
    assert code == 0
    assert "run-a: 1 change(s) not restored (set_value k)" in out
    assert "run-b: 1 change(s) not restored (set_value j)" in out
    code, out, _ = run(["rollback", "--run-id", "run-b"], capsys)
    assert (code, out) == (0, "restored set_value on j (run run-b)\n1 change(s) restored\n")
    assert state(file_state) == {"k": 0}
    code, out, _ = run(["rollback", "--all"], capsys)
    assert code == 0 and "restored set_value on k (run run-a)" in out
    assert state(file_state) == {}


def test_a_change_that_cannot_be_restored_exits_3(
    file_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change_value("broken", 1, "run-a")
    change_value("k", 0, "run-a")
    code, out, err = run(["rollback", "--all"], capsys)
    assert code == 3
    assert "restored set_value on k (run run-a)" in out
    assert (
        "NOT restored set_value on broken (run run-a): RuntimeError: cannot restore broken" in err
    )
    assert err.strip().splitlines()[-1].startswith("chaoskit: error: 1 change(s) could not be")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rollback", "--run-id", "x", "--all"], "give --run-id or --all, not both"),
        (["rollback", "--run-id", "nope"], "no journal for run 'nope'"),
    ],
)
def test_bad_input_exits_2(
    file_state: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and message in err and out == ""


def test_the_endpoint_can_be_overridden_when_the_target_moved(
    aws_env: dict[str, str], undo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chaoskit import aws
    from chaoskit.faults import kill_switch
    from chaoskit.undo.store import journal_path

    iam = aws.client("iam", aws_env)
    role = iam.create_role(RoleName="cli-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    lam = aws.client("lambda", aws_env)
    lam.create_function(
        FunctionName="orders-worker",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    config = {**aws_env, "chaoskit_run_id": "run-m", "chaoskit_remote_lock": False}
    kill_switch.set_reserved_concurrency(["orders-worker"], configuration=config)
    path = journal_path("run-m")
    # The sandbox came back on another port: the recorded endpoint is dead now.
    path.write_text(
        path.read_text().replace(aws_env["chaoskit_endpoint_url"], "http://127.0.0.1:9")
    )
    code, out, _ = run(
        ["rollback", "--all", "--endpoint-url", aws_env["chaoskit_endpoint_url"]], capsys
    )
    assert code == 0 and "restored set_reserved_concurrency on orders-worker" in out
    found = lam.get_function_concurrency(FunctionName="orders-worker")
    assert "ReservedConcurrentExecutions" not in found

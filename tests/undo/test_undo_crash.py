"""Real processes: Ctrl-C and SIGTERM restore on their own; after kill -9, `chaoskit rollback`.

Each test starts a real ``chaoskit run`` (or plain ``chaos run``) against the
moto server, waits until the journal says the kill switch is applied, signals
the process, and checks the function's reserved concurrency on the server.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws
from chaoskit.undo import pending_runs, store

BIN = Path(sys.executable).parent
FIXTURES = Path(__file__).parent / "fixtures"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def reserved(config: dict[str, Any]) -> int | None:
    found = aws.client("lambda", config).get_function_concurrency(FunctionName="orders-worker")
    value = found.get("ReservedConcurrentExecutions")
    return None if value is None else int(value)


@pytest.fixture
def world(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A function with reserved concurrency 7, a private home and the experiment file."""
    home = tmp_path / "home"
    monkeypatch.setenv("CHAOSKIT_HOME", str(home))
    role = aws.client("iam", aws_env).create_role(
        RoleName="crash-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    lam = aws.client("lambda", aws_env)
    lam.create_function(
        FunctionName="orders-worker",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip()},
    )
    lam.put_function_concurrency(FunctionName="orders-worker", ReservedConcurrentExecutions=7)
    experiment = {
        "title": "kill switch, then a long wait",
        "description": "stays in the method until signalled",
        "configuration": dict(aws_env),
        "controls": [
            {"name": "chaoskit", "provider": {"type": "python", "module": "chaoskit.undo.control"}}
        ],
        "method": [
            {
                "type": "action",
                "name": "kill switch",
                "provider": {
                    "type": "python",
                    "module": "chaoskit.faults.kill_switch",
                    "func": "set_reserved_concurrency",
                    "arguments": {"function_names": ["orders-worker"]},
                },
            },
            {
                "type": "action",
                "name": "busy",
                "provider": {
                    "type": "python",
                    "module": "ck_undo_steps",
                    "func": "wait_for_interrupt",
                    "arguments": {"seconds": 60},
                },
            },
        ],
    }
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(experiment))
    env = {k: v for k, v in os.environ.items() if k != "CHAOSKIT_RUN_ID"}
    env["PYTHONPATH"] = str(FIXTURES)
    return {"config": aws_env, "path": path, "env": env, "cwd": tmp_path}


#: Runs a command with SIGINT at its default, as a terminal's foreground job has it. A
#: process started with SIGINT ignored (pytest run as a background job, which the test
#: process passes on) keeps ignoring it: Python installs its ``KeyboardInterrupt``
#: handler only over the default.
SIGINT_DEFAULT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def start(world: dict, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SIGINT_DEFAULT, *argv, str(world["path"])],
        cwd=world["cwd"],
        env=world["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_applied(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """Return the run id once the journal says the kill switch is applied."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run_id in store.run_ids():
            if any(c["status"] == "applied" for c in store.changes(run_id)):
                return run_id
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the change was never applied: {proc.communicate()}")


def chaoskit(world: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chaoskit"), *args],
        cwd=world["cwd"],
        env=world["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_kill_9_then_chaoskit_rollback_all_restores(world: dict) -> None:
    proc = start(world, str(BIN / "chaoskit"), "run")
    run_id = wait_until_applied(proc)
    assert reserved(world["config"]) == 0
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert reserved(world["config"]) == 0  # nothing undid it: the process died
    assert pending_runs() == [run_id]

    listed = chaoskit(world, "rollback")
    assert f"{run_id}: 1 change(s) not restored (set_reserved_concurrency orders-worker)" in (
        listed.stdout
    )
    done = chaoskit(world, "rollback", "--all")
    assert done.returncode == 0, done.stderr
    assert f"restored set_reserved_concurrency on orders-worker (run {run_id})" in done.stdout
    assert reserved(world["config"]) == 7
    again = chaoskit(world, "rollback", "--all")
    assert again.returncode == 0 and "nothing left to restore" in again.stdout
    assert reserved(world["config"]) == 7


def test_ctrl_c_restores_without_chaoskit_rollback(world: dict) -> None:
    proc = start(world, str(BIN / "chaoskit"), "run")
    wait_until_applied(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert reserved(world["config"]) == 7, err
    assert pending_runs() == []
    assert proc.returncode == 3  # interrupted
    assert "set_reserved_concurrency on orders-worker: restored" in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_plain_chaos_run_restores_even_with_rollbacks_never(world: dict, sig: int) -> None:
    proc = start(
        world,
        str(BIN / "chaos"),
        "--no-version-check",
        "run",
        "--rollback-strategy",
        "never",
        "--journal-path",
        str(world["cwd"] / "journal.json"),
    )
    wait_until_applied(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert reserved(world["config"]) == 7, err
    journal = json.loads((world["cwd"] / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    [change] = journal["chaoskit"]["changes"]
    assert change["resource"] == "orders-worker" and change["status"] == "restored"


def test_rollback_of_an_unknown_run_is_bad_input(world: dict) -> None:
    result = chaoskit(world, "rollback", "--run-id", "nope")
    assert result.returncode == 2
    assert "no journal for run 'nope'" in result.stderr


def test_a_stop_alarm_aborts_a_real_run_and_restores(world: dict) -> None:
    config = world["config"]
    aws.client("cloudwatch", config).put_metric_alarm(
        AlarmName="orders-errors",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    experiment = json.loads(world["path"].read_text())
    experiment["configuration"].update(
        chaoskit_stop_alarms=["orders-errors"], chaoskit_stop_alarm_interval=0.05
    )
    experiment["method"].insert(
        1,
        {
            "type": "action",
            "name": "errors pile up",
            "provider": {
                "type": "python",
                "module": "ck_undo_steps",
                "func": "set_alarm",
                "arguments": {"alarm_name": "orders-errors"},
            },
        },
    )
    world["path"].write_text(json.dumps(experiment))
    journal = world["cwd"] / "run.json"
    result = subprocess.run(
        [str(BIN / "chaoskit"), "run", str(world["path"]), "--journal", str(journal)],
        cwd=world["cwd"],
        env=world["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert reserved(config) == 7
    written = json.loads(journal.read_text())
    assert written["chaoskit"]["stop_alarm"] == "orders-errors"
    assert [c["status"] for c in written["chaoskit"]["changes"]] == ["restored"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_stops_the_whole_game_day_after_restoring(world: dict, sig: int) -> None:
    # The experiment running is interrupted and restored; the next one must not start
    # (it used to: a game day went on to its next experiment after Ctrl-C).
    marker = world["cwd"] / "second-ran"
    second = {
        "title": "the next experiment",
        "description": "must not run once the game day was stopped",
        "method": [
            {
                "type": "action",
                "name": "mark",
                "provider": {
                    "type": "python",
                    "module": "os",
                    "func": "makedirs",
                    "arguments": {"name": str(marker)},
                },
            }
        ],
    }
    (world["cwd"] / "second.json").write_text(json.dumps(second))
    gameday = world["cwd"] / "gameday.yaml"
    gameday.write_text(
        f"name: stopped\nexperiments:\n  - {world['path']}\n  - {world['cwd'] / 'second.json'}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_DEFAULT, str(BIN / "chaoskit"), "gameday", "run",
         str(gameday), "--output", str(world["cwd"] / "runs"),
         "--db", str(world["cwd"] / "h.db")],
        cwd=world["cwd"], env=world["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_until_applied(proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert reserved(world["config"]) == 7, err
    assert proc.returncode == 3, (out, err)
    assert "game day interrupted: the remaining experiments do not run" in out + err
    assert not marker.exists()
    assert "skipped: the next experiment (game day was interrupted)" in out
    [folder] = (world["cwd"] / "runs").iterdir()
    assert "skipped" in (folder / "junit.xml").read_text()

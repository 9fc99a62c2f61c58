"""``chaoskit run``: summary, exit codes 0/1/2/3, journal path, target and vars."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit.cli.main import main

FIXTURES = Path(__file__).parents[1] / "gameday" / "fixtures"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHAOSKIT_RUN_ID", "unset")
    monkeypatch.delenv("CHAOSKIT_RUN_ID")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)  # click returns the exit code when not in standalone mode
    except SystemExit as exc:  # chaoskit errors exit with their own code
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def test_ok_exits_0_with_summary_and_journal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    journal = tmp_path / "journal.json"
    code, out, _ = run(["run", str(FIXTURES / "ok.yaml"), "--journal", str(journal)], capsys)
    assert code == 0
    assert out.startswith("folder exists: PASSED")
    assert "faults applied: 0; resources restored: 0" in out
    assert f"journal: {journal}" in out
    assert json.loads(journal.read_text())["status"] == "completed"


def test_failed_hypothesis_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    number = tmp_path / "n"
    number.write_text("5")
    code, out, _ = run(
        [
            "run",
            str(FIXTURES / "deviates.yaml"),
            "--var",
            f"marker={number}",
            "--var",
            f"rollback_marker={tmp_path / 'rb'}",
            "--journal",
            str(tmp_path / "j.json"),
        ],
        capsys,
    )
    assert code == 1
    assert "FAILED" in out and "probe 'number-is-zero' out of tolerance: got 5" in out
    assert (tmp_path / "rb").exists()


def test_unrestored_change_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(
        [
            "run",
            str(FIXTURES / "with-changes.yaml"),
            "--var",
            "fixture_restore=false",
            "--journal",
            str(tmp_path / "j.json"),
        ],
        capsys,
    )
    assert code == 3
    assert "set_reserved_concurrency on orders-worker: NOT RESTORED" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.yaml"], "cannot read experiment file 'missing.yaml'"),
        (["run", str(FIXTURES / "ok.yaml"), "--var", "novalue"], "invalid --var 'novalue'"),
        (["run", str(FIXTURES / "gameday.yaml")], "requires a title"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(args, capsys)
    assert code == 2
    assert message in err and out == ""
    assert len(err.strip().splitlines()) == 1


def test_unknown_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["run", str(FIXTURES / "ok.yaml"), "--target", "mars"], capsys)
    assert code == 2 and "mars" in err


def test_console_script_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(FIXTURES), "CHAOSKIT_HOME": str(tmp_path / "home")}
    env.pop("CHAOSKIT_RUN_ID", None)
    proc = subprocess.run(
        [sys.executable, "-m", "chaoskit.cli.main", "run", str(FIXTURES / "with-changes.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "faults applied: 1; resources restored: 1" in proc.stdout
    journals = list((tmp_path / "home" / "journals").glob("*.json"))
    assert len(journals) == 1


def test_a_sandbox_nobody_runs_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.support.net import free_port

    port = free_port()  # nothing listens on it
    experiment = Path(__file__).parents[2] / "experiments" / "kill-switch.yaml"
    journal = tmp_path / "journal.json"
    args = ["run", str(experiment), "--var", f"chaoskit_sandbox_port={port}"]
    code, _, err = run([*args, "--journal", str(journal)], capsys)
    assert code == 2
    assert f"nothing answers at http://127.0.0.1:{port}" in err
    assert "chaoskit sandbox up" in err
    assert not journal.exists()

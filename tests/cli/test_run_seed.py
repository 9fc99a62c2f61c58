"""``chaoskit run --seed``: the seed is printed, journalled and handed to the activities."""

import json
from pathlib import Path

import pytest

from chaoskit.cli.main import main

FIXTURES = Path(__file__).parents[1] / "gameday" / "fixtures"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def test_the_seed_is_printed_journalled_and_in_the_configuration(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    journal = tmp_path / "j.json"
    code, out, err = _run(
        ["run", str(FIXTURES / "ok.yaml"), "--seed", "4242", "--journal", str(journal)], capsys
    )
    assert code == 0
    assert "seed 4242" in err and "seed: 4242 (rerun with --seed 4242)" in out
    data = json.loads(journal.read_text())
    assert data["chaoskit"]["seed"] == "4242"
    assert data["experiment"]["configuration"]["chaoskit_seed"] == "4242"


def test_without_a_seed_a_fresh_one_is_made_and_shown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    journal = tmp_path / "j.json"
    code, out, _ = _run(["run", str(FIXTURES / "ok.yaml"), "--journal", str(journal)], capsys)
    seed = json.loads(journal.read_text())["chaoskit"]["seed"]
    assert code == 0 and seed.isdigit() and f"--seed {seed}" in out

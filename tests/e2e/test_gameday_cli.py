"""A game day of the library's experiments, end to end on the sandbox, from the CLI.

``chaoskit gameday run`` in a real subprocess: the experiments run against the
reference app, and the run's folder holds a report with one chart per
experiment, valid JUnit XML with one case per experiment, and the history
records the run.
"""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reference_app

APP = reference_app.load()


EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("gameday-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("CHAOSKIT_HOME", str(path))
    yield path
    mp.undo()


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHAOSKIT_HOME": str(home), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "chaoskit.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_game_day_runs_end_to_end_from_the_cli(
    sandbox: dict[str, Any], home: Path, tmp_path: Path
) -> None:
    deployed = APP.deploy(sandbox)
    variables = {
        **APP.experiment_vars(deployed),
        "chaoskit_endpoint_url": sandbox["chaoskit_endpoint_url"],
    }
    day = tmp_path / "day.yaml"
    day.write_text(
        "name: e2e day\n"
        "target: sandbox\n"
        'schedule: "0 9 * * 1"\n'
        "experiments:\n"
        f"  - {EXPERIMENTS / 'kill-switch.yaml'}\n"
        f"  - {EXPERIMENTS / 'stream-poison-pill.yaml'}\n",
        encoding="utf-8",
    )
    out, db = tmp_path / "runs", tmp_path / "history.db"
    var_args = [arg for k, v in variables.items() for arg in ("--var", f"{k}={v}")]
    args = ["gameday", "run", str(day), "--output", str(out), "--db", str(db), *var_args]
    done = _cli(args, home)
    assert done.returncode == 0, done.stdout + done.stderr

    (folder,) = out.iterdir()
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 2, "one timeline chart per experiment"
    suite = ET.parse(folder / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    assert len(cases) == 2
    assert not suite.findall(".//failure") and not suite.findall(".//error")
    assert "0 lost" in (folder / "summary.md").read_text(encoding="utf-8").replace("**", "")
    assert len(list((folder / "journals").glob("*.json"))) == 2

    history = _cli(["gameday", "history", "--db", str(db), "--json"], home)
    assert history.returncode == 0, history.stderr
    trends = json.loads(history.stdout)
    assert len(trends) == 2, "one trend per experiment"
    for items in trends.values():
        runs = [(t["gameday"], t["outcome"], t["lost"]) for t in items]
        assert runs == [("e2e day", "passed", 0)]

"""``chaos discover --no-install chaoskit`` works on the development (editable) install.

chaoslib maps the distribution to its import package through
``importlib.metadata.packages_distributions()``. An editable install's only
file is a ``.pth``, so before ``hatch_build.py`` shipped ``top_level.txt``
nothing mapped to chaoskit and discovery failed ("no top-level package name
could be determined"). Run ``scripts/dev`` (or ``pip install -e .``) once
after pulling this change so the installed metadata has the file.
"""

import json
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path


def test_the_installed_metadata_names_chaoskits_packages() -> None:
    owners = packages_distributions()
    assert "chaoskit" in owners.get("chaoskit", [])
    assert "chaoskit" in owners.get("probes", [])


def test_chaos_discover_lists_chaoskits_activities(tmp_path: Path) -> None:
    out = tmp_path / "discovery.json"
    chaos = Path(sys.executable).with_name("chaos")
    run = subprocess.run(
        [str(chaos), "--no-version-check", "--log-file", str(tmp_path / "chaos.log"),
         "discover", "--no-install", "--no-system-info", "chaoskit",
         "--discovery-path", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    kinds = {a["name"]: a["type"] for a in json.loads(out.read_text())["activities"]}
    assert kinds["redrive_dlq_messages"] == "action"
    assert kinds["count_lost_events"] == "probe"

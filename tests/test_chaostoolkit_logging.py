"""chaoskit logs under ``chaostoolkit.chaoskit``: plain ``chaos run`` shows its lines.

Before, chaoskit logged under ``chaoskit``, which Chaos Toolkit does not
configure: its lines reached neither the console nor ``chaostoolkit.log``
(hence the journal's ``print`` fallback for dry runs).
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chaoskit import aws


def test_chaos_run_shows_chaoskit_lines_on_the_console_and_in_its_log(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    role = aws.client("iam", aws_env).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    aws.client("lambda", aws_env).create_function(
        FunctionName="orders-worker",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    experiment: dict[str, Any] = {
        "title": "a dry run under plain chaos run",
        "description": "chaoskit's dry-run line must reach Chaos Toolkit's log",
        "configuration": {**aws_env, "chaoskit_dry_run": True, "chaoskit_run_id": "run-log"},
        "method": [
            {
                "type": "action",
                "name": "kill-switch",
                "provider": {
                    "type": "python",
                    "module": "chaoskit.faults.kill_switch",
                    "func": "set_reserved_concurrency",
                    "arguments": {"function_names": "orders-worker", "concurrency": 0},
                },
            }
        ],
    }
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(experiment))
    env = {**os.environ, "CHAOSKIT_HOME": str(tmp_path / "home")}
    chaos = Path(sys.executable).with_name("chaos")
    out = subprocess.run(
        [str(chaos), "--no-version-check", "--log-file", str(tmp_path / "chaostoolkit.log"),
         "run", "--journal-path", str(tmp_path / "journal.json"), str(path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    line = "dry run: would set_reserved_concurrency on 'orders-worker'"
    assert out.returncode == 0, out.stderr[-2000:]
    console = out.stdout + out.stderr
    assert console.count(line) == 1, console[-3000:]  # once: logged, not also printed
    assert line in (tmp_path / "chaostoolkit.log").read_text()

"""``chaoskit deploy`` as a real process against the moto server."""

import json
import os
import subprocess
import sys


def test_cli_deploys_and_prints_json(aws_env: dict[str, str]) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaoskit.cli.main",
            "deploy",
            "--target",
            "localstack",
            "--endpoint-url",
            aws_env["chaoskit_endpoint_url"],
            "--variant",
            "broken",
            "--var",
            "orders_payments_url=http://localhost:9/charge",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["variant"] == "broken"
    assert out["target"] == "localstack"
    assert out["queues"]["orders-queue"].endswith("/orders-queue")


def test_cli_refuses_an_unknown_variant() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaoskit.cli.main", "deploy", "--variant", "evil"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "evil" in done.stderr

"""``chaoskit deploy`` through the CLI against the moto server."""

import json
import subprocess
import sys

from click.testing import CliRunner

from chaoskit.cli.main import cli


def test_cli_deploys_and_prints_json(aws_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        cli,
        [
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
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
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

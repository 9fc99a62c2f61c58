"""The crash campaign at CI size: SIGKILL every mutating experiment, roll back, compare all state.

The full campaign (56 trials) is ``benchmarks/crash_campaign.py``; this runs
one trial per experiment with kill moments drawn from a fixed seed.
"""

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import crash_campaign

from chaoskit import aws


def test_every_mutating_experiment_is_restored_exactly_after_sigkill(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    trials = crash_campaign.campaign(dict(aws_env), 7, seed=15, workdir=tmp_path)
    report = [
        f"{t.experiment} {t.moment}: {t.error} {t.differences}" for t in trials if not t.exact
    ]
    assert report == []
    assert {t.experiment for t in trials} == set(
        crash_campaign.experiments({"uuid": "", "api": "", "check": "", "layer": ""})
    )
    assert any(t.changes_seen for t in trials)  # the kills did land on live changes


def test_the_state_read_sees_every_change_it_compares(aws_env: dict[str, str]) -> None:
    config: dict[str, Any] = dict(aws_env)
    ids = crash_campaign.build_world(config)
    before = crash_campaign.read_state(config, ids)
    aws.client("lambda", config).put_function_concurrency(
        FunctionName=crash_campaign.FUNCTION, ReservedConcurrentExecutions=3
    )
    aws.client("route53", config).update_health_check(HealthCheckId=ids["check"], Inverted=True)
    aws.client("ssm", config).put_parameter(Name="/chaoskit/faults/x", Value="{}", Type="String")
    ddb = aws.client("dynamodb", config)
    table = ddb.describe_table(TableName="orders-table")["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=table, Tags=[{"Key": "chaoskit:run-id", "Value": "left"}])
    found = crash_campaign.diff(before, crash_campaign.read_state(config, ids))
    assert any(d.startswith(".concurrency.") for d in found), found
    assert any(d.startswith(".health_check.") for d in found), found
    assert any(d.startswith(".health_check_listed") for d in found), found
    assert any(d.startswith(".chaoskit_parameters") for d in found), found
    assert any(d.startswith(".table_tags.") for d in found), found

"""Shifting an alias's traffic against the moto server, and restoring it exactly."""

from pathlib import Path
from typing import Any

import pytest
from ck_faults_aws import make_function

from chaoskit import aws
from chaoskit.errors import BadInput, SafetyAbort
from chaoskit.faults import canary, inject, kill_switch
from chaoskit.undo import changes, rollback_run


@pytest.fixture
def config(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    cfg = {**aws_env, "chaoskit_run_id": "run-k"}
    make_function(cfg, "orders-worker", {"app": "orders"})
    lam = aws.client("lambda", cfg)
    for description in ("v1", "v2", "v3"):
        lam.update_function_configuration(FunctionName="orders-worker", Description=description)
        lam.publish_version(FunctionName="orders-worker")
    return cfg


def alias(config: dict[str, Any]) -> tuple[str, dict[str, float]]:
    found = aws.client("lambda", config).get_alias(FunctionName="orders-worker", Name="live")
    weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return str(found["FunctionVersion"]), dict(weights)


@pytest.mark.parametrize("routing", [None, {"3": 0.1}], ids=["no-routing", "routing"])
def test_shift_then_restore_exactly(config: dict[str, Any], routing: dict | None) -> None:
    kwargs: dict[str, Any] = (
        {"RoutingConfig": {"AdditionalVersionWeights": routing}} if routing else {}
    )
    aws.client("lambda", config).create_alias(
        FunctionName="orders-worker", Name="live", FunctionVersion="1", **kwargs
    )
    before = alias(config)
    result = canary.shift_alias_traffic("orders-worker", "live", "2", 0.5, configuration=config)
    assert result["previous"] == {"function_version": "1", "weights": routing or {}}
    assert alias(config) == ("1", {"2": 0.5})
    canary.shift_alias_traffic("orders-worker", "live", "2", 0.9, configuration=config)
    assert alias(config) == ("1", {"2": 0.9})
    assert len(canary.restore_alias_traffic("orders-worker", configuration=config)) == 2
    assert alias(config) == before
    assert canary.restore_alias_traffic(configuration=config) == []
    assert alias(config) == before


def test_crash_recovery_and_lock_on_the_function(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    aws.client("lambda", config).create_alias(
        FunctionName="orders-worker", Name="live", FunctionVersion="1"
    )
    canary.shift_alias_traffic("orders-worker", "live", "3", 0.2, configuration=config)
    [change] = changes("run-k")
    assert change["resource"] == "orders-worker:live" and change["lock"] == "orders-worker"
    other = {**config, "chaoskit_run_id": "run-other"}
    with pytest.raises(SafetyAbort, match="'orders-worker' is held by run 'run-k'"):
        kill_switch.set_reserved_concurrency(["orders-worker"], configuration=other)
    rollback_run("run-k")
    assert alias(config) == ("1", {})


def test_refusals(config: dict[str, Any]) -> None:
    aws.client("lambda", config).create_alias(
        FunctionName="orders-worker", Name="live", FunctionVersion="1"
    )
    with pytest.raises(BadInput, match=r"invalid weight 1\.5"):
        canary.shift_alias_traffic("orders-worker", "live", "2", 1.5, configuration=config)
    with pytest.raises(BadInput, match="already the version of alias 'live'"):
        canary.shift_alias_traffic("orders-worker", "live", "1", 0.5, configuration=config)
    with pytest.raises(BadInput, match="alias 'nope' of function 'orders-worker' not found"):
        canary.shift_alias_traffic("orders-worker", "nope", "2", 0.5, configuration=config)
    with pytest.raises(SafetyAbort, match="outside the allowlist"):
        canary.shift_alias_traffic(
            "orders-worker",
            "live",
            "2",
            0.5,
            configuration={**config, "chaoskit_allow": {"names": ["payments-*"]}},
        )
    assert alias(config) == ("1", {})
    assert changes("run-k") == []


def test_dry_run(config: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    aws.client("lambda", config).create_alias(
        FunctionName="orders-worker", Name="live", FunctionVersion="1"
    )
    result = canary.shift_alias_traffic(
        "orders-worker", "live", "2", 0.5, configuration={**config, "chaoskit_dry_run": True}
    )
    assert result["dry_run"] is True and result["weights"] == {}
    assert alias(config) == ("1", {})
    assert "would shift_alias_traffic on 'orders-worker:live'" in capsys.readouterr().out


def test_inject_on_a_canary_writes_the_parameter_its_published_version_reads(
    config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # $LATEST is plain; a candidate published with the layer reads its own parameter.
    lam = aws.client("lambda", config)
    lam.update_function_configuration(
        FunctionName="orders-worker",
        Environment={"Variables": {"CHAOSKIT_CONFIG_PARAMETER": "/team/faults/candidate"}},
    )
    lam.publish_version(FunctionName="orders-worker")
    lam.update_function_configuration(FunctionName="orders-worker", Environment={"Variables": {}})
    caplog.set_level("INFO", logger="chaostoolkit.chaoskit")
    result = inject.inject_http_fault(
        "orders-worker", hosts=["payments.example"], status=500, configuration=config
    )
    assert result["parameter"] == "/team/faults/candidate"
    assert "its version 4 reads" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    ssm = aws.client("ssm", config)
    assert ssm.get_parameter(Name="/team/faults/candidate")["Parameter"]["Value"]
    rollback_run("run-k")


def test_inject_with_no_instrumented_version_warns(
    config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    result = inject.inject_http_fault(
        "orders-worker", hosts=["payments.example"], status=500, configuration=config
    )
    assert result["parameter"] == "/chaoskit/faults/orders-worker"
    assert "no published version reads one" in caplog.text
    rollback_run("run-k")

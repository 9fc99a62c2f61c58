"""Failing a Route 53 health check against the moto server, and restoring its flags."""

from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws
from chaoskit.errors import BadInput, SafetyAbort
from chaoskit.faults import route53
from chaoskit.undo import changes, rollback_run


@pytest.fixture
def config(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    return {**aws_env, "chaoskit_run_id": "run-r"}


def make_check(config: dict[str, Any], inverted: bool = False, disabled: bool = False) -> str:
    r53 = aws.client("route53", config)
    check_id = str(
        r53.create_health_check(
            CallerReference=f"ref-{inverted}-{disabled}",
            HealthCheckConfig={
                "Type": "HTTP",
                "FullyQualifiedDomainName": "api.orders.example.test",
                "Port": 80,
                "ResourcePath": "/health",
                "Inverted": inverted,
                "Disabled": disabled,
            },
        )["HealthCheck"]["Id"]
    )
    r53.change_tags_for_resource(
        ResourceType="healthcheck", ResourceId=check_id, AddTags=[{"Key": "app", "Value": "orders"}]
    )
    return check_id


def flags(config: dict[str, Any], check_id: str) -> tuple[bool, bool]:
    hc = aws.client("route53", config).get_health_check(HealthCheckId=check_id)
    c = hc["HealthCheck"]["HealthCheckConfig"]
    return bool(c["Inverted"]), bool(c["Disabled"])


@pytest.mark.parametrize(
    ("inverted", "disabled", "mode", "during"),
    [
        (False, False, "invert", (True, False)),
        (True, False, "invert", (False, False)),
        (False, True, "invert", (True, False)),
        (False, False, "force", (True, True)),
    ],
)
def test_fail_then_restore_exactly(
    config: dict[str, Any], inverted: bool, disabled: bool, mode: str, during: tuple
) -> None:
    check_id = make_check(config, inverted, disabled)
    result = route53.fail_health_check(check_id, mode=mode, configuration=config)
    assert result["previous"] == {"inverted": inverted, "disabled": disabled}
    assert flags(config, check_id) == during
    route53.fail_health_check(check_id, mode=mode, configuration=config)  # twice: harmless
    assert [r["status"] for r in route53.restore_health_check(configuration=config)] == [
        "restored",
        "restored",
    ]
    assert flags(config, check_id) == (inverted, disabled)
    assert route53.restore_health_check(check_id, configuration=config) == []
    assert flags(config, check_id) == (inverted, disabled)


def test_crash_recovery_needs_no_configuration(config: dict[str, Any]) -> None:
    check_id = make_check(config)
    route53.fail_health_check(check_id, configuration=config)
    rollback_run("run-r")
    assert flags(config, check_id) == (False, False)


def test_allowlist_by_tag_and_refusal(config: dict[str, Any]) -> None:
    check_id = make_check(config)
    config["chaoskit_allow"] = {"tags": {"app": "payments"}}
    with pytest.raises(SafetyAbort, match="outside the allowlist"):
        route53.fail_health_check(check_id, configuration=config)
    assert flags(config, check_id) == (False, False)
    assert changes("run-r") == []
    config["chaoskit_allow"] = {"tags": {"app": "orders"}}
    route53.fail_health_check(check_id, configuration=config)
    assert flags(config, check_id) == (True, False)


def test_dry_run_and_bad_input(config: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    check_id = make_check(config)
    result = route53.fail_health_check(check_id, configuration={**config, "chaoskit_dry_run": True})
    assert result["dry_run"] is True and result["now"] == result["previous"]
    assert flags(config, check_id) == (False, False)
    assert "would fail_health_check" in capsys.readouterr().out
    with pytest.raises(BadInput, match="invalid mode 'flip'"):
        route53.fail_health_check(check_id, mode="flip", configuration=config)
    with pytest.raises(BadInput, match="health check 'nope' not found"):
        route53.fail_health_check("nope", configuration=config)

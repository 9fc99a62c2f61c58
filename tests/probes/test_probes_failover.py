"""Failover probes: health checks and failover records on a real (moto) Route 53, and judging."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws, envvars
from chaoskit.errors import AWSActionFailed, BadInput
from probes import failover

RUN = "run-failover"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(envvars.HOME, str(tmp_path))
    yield tmp_path


def _zone(cfg: dict[str, str]) -> tuple[str, str]:
    r53 = aws.client("route53", cfg)
    zone_id = r53.create_hosted_zone(Name="orders.example.test", CallerReference="z")["HostedZone"][
        "Id"
    ].rsplit("/", 1)[-1]
    check = r53.create_health_check(
        CallerReference="hc",
        HealthCheckConfig={
            "IPAddress": "127.0.0.1",
            "Port": 8080,
            "Type": "HTTP",
            "ResourcePath": "/health",
        },
    )["HealthCheck"]["Id"]
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "api.orders.example.test",
                "Type": "A",
                "SetIdentifier": ident,
                "Failover": role,
                "TTL": 60,
                "ResourceRecords": [{"Value": ip}],
                **({"HealthCheckId": check} if role == "PRIMARY" else {}),
            },
        }
        for ident, role, ip in (("p", "PRIMARY", "10.0.0.1"), ("s", "SECONDARY", "10.0.0.2"))
    ]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return zone_id, check


def test_health_check_status_and_failover_roles(aws_env: dict[str, str]) -> None:
    zone_id, check = _zone(aws_env)
    status = failover.get_health_check_status(check, aws_env)
    assert status["healthy"] is True and status["checkers"] >= 1 and status["failing"] == 0
    assert failover.is_health_check_healthy(check, aws_env)
    assert failover._zone_id("orders.example.test", aws_env) == zone_id
    roles = failover._roles(zone_id, "api.orders.example.test", "A", aws_env)
    assert roles == {"10.0.0.1": "primary", "10.0.0.2": "secondary"}
    assert failover.role_of(["10.0.0.2"], roles) == "secondary"
    assert failover.role_of(["10.0.0.1", "10.0.0.2"], roles) is None
    assert failover.role_of([], roles) is None
    with pytest.raises(BadInput, match=r"no hosted zone named 'nowhere\.test'"):
        failover._zone_id("nowhere.test", aws_env)
    with pytest.raises(AWSActionFailed, match="route53:GetHealthCheckStatus on 'missing'"):
        failover.get_health_check_status("missing", aws_env)


def test_dns_answer_needs_test_dns_answer_which_moto_lacks(
    aws_env: dict[str, str], home: Path
) -> None:
    # moto has no TestDNSAnswer: the call fails by name (the sandbox e2e suite covers it).
    _zone(aws_env)
    with pytest.raises(AWSActionFailed, match=r"route53:TestDNSAnswer on 'api\.orders"):
        failover.get_dns_answer(
            "orders.example.test", "api.orders.example.test", configuration=aws_env
        )


def _write_samples(home: Path, samples: list[dict[str, Any]]) -> None:
    path = home / "failover" / f"{RUN}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))


def S(t: float, role: str | None) -> dict[str, Any]:
    return {"t": t, "record": "api", "answer": [], "code": "NOERROR", "role": role}


@pytest.mark.parametrize(
    ("samples", "observed"),
    [
        ([S(5, "primary"), S(12, "primary"), S(15, "secondary"), S(25, "primary")], True),
        ([S(12, "primary"), S(25, "primary")], False),  # never failed over
        ([S(15, "secondary"), S(25, "secondary")], False),  # never failed back
        ([S(15, "secondary"), S(19, "primary"), S(25, "primary")], False),  # flapped back early
        ([S(15, "secondary")], False),  # nothing sampled after the fault
    ],
)
def test_failover_is_judged_over_the_fault_window(
    home: Path, samples: list[dict[str, Any]], observed: bool
) -> None:
    _write_samples(home, samples)
    cfg = {"chaoskit_run_id": RUN}
    assert failover.is_failover_observed("api", start=10, end=20, configuration=cfg) is observed


def test_the_window_comes_from_the_undo_journal(home: Path) -> None:
    from chaoskit.undo import store as journal

    _write_samples(home, [S(150, "secondary"), S(250, "primary")])
    cfg = {"chaoskit_run_id": RUN}
    assert failover.is_failover_observed("api", configuration=cfg) is False  # no window
    journal.append(RUN, {"id": "c", "action": "a", "resource": "hc", "status": "pending"})
    journal.append(RUN, {"id": "c", "status": "applied", "applied_at": 100.0})
    journal.append(RUN, {"id": "c", "status": "restored", "restored_at": 200.0})
    assert failover.is_failover_observed("api", configuration=cfg) is True
    assert [s["t"] for s in failover.get_failover_samples("api", configuration=cfg)] == [150, 250]


def test_wait_for_dns_role_polls_until_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    roles = iter(["primary", "primary", "secondary"])
    clock = {"now": 0.0}
    monkeypatch.setattr(failover, "get_dns_answer", lambda *a, **k: S(clock["now"], next(roles)))
    monkeypatch.setattr(failover, "_clock", lambda: clock["now"])
    monkeypatch.setattr(failover, "_sleep", lambda s: clock.update(now=clock["now"] + s))
    out = failover.wait_for_dns_role("z", "api", "secondary", timeout=60, poll_interval=5)
    assert out["reached"] is True and out["t"] == 10.0
    with pytest.raises(BadInput, match="unknown failover role 'tertiary'"):
        failover.wait_for_dns_role("z", "api", "tertiary")


def test_wait_for_dns_role_fails_the_step_when_the_role_is_never_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chaoskit.errors import FaultNotObserved

    clock = {"now": 0.0}
    monkeypatch.setattr(failover, "get_dns_answer", lambda *a, **k: S(clock["now"], "primary"))
    monkeypatch.setattr(failover, "_clock", lambda: clock["now"])
    monkeypatch.setattr(failover, "_sleep", lambda s: clock.update(now=clock["now"] + s))
    with pytest.raises(FaultNotObserved, match="'api' still answers primary after 60 s"):
        failover.wait_for_dns_role("z", "api", "secondary", timeout=60, poll_interval=5)
    out = failover.wait_for_dns_role("z", "api", "secondary", timeout=60, require=False)
    assert out["reached"] is False

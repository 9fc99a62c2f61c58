"""Route 53: health checks that really probe, GetHealthCheckStatus, TestDNSAnswer."""

import http.server
import threading
import uuid

import pytest

from tests.support.sandbox import unique, wait_for


class Endpoint:
    """An HTTP endpoint on 127.0.0.1 whose /health answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint():
    served = Endpoint()
    yield served
    served.server.shutdown()


def _zone(route53, name):
    zone = route53.create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()))
    return zone["HostedZone"]["Id"].split("/")[-1]


def _health_check(route53, port, **extra):
    config = {
        "IPAddress": "127.0.0.1",
        "Port": port,
        "Type": "HTTP",
        "ResourcePath": "/health",
        "RequestInterval": 10,
        "FailureThreshold": 1,
        **extra,
    }
    created = route53.create_health_check(
        CallerReference=str(uuid.uuid4()), HealthCheckConfig=config
    )
    return created["HealthCheck"]["Id"]


def _answer(route53, zone_id, name):
    response = route53.test_dns_answer(HostedZoneId=zone_id, RecordName=name, RecordType="A")
    return response["RecordData"]


def test_failover_follows_the_primarys_health_check(aws, endpoint):
    route53 = aws("route53")
    domain = f"{unique('failover')}.example.test"
    zone_id = _zone(route53, domain)
    check_id = _health_check(route53, endpoint.port)
    name = f"api.{domain}"
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": name,
                "Type": "A",
                "SetIdentifier": role,
                "Failover": role,
                "TTL": 5,
                "ResourceRecords": [{"Value": value}],
                **({"HealthCheckId": check_id} if role == "PRIMARY" else {}),
            },
        }
        for role, value in (("PRIMARY", "10.0.0.1"), ("SECONDARY", "10.0.0.2"))
    ]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})

    def answers(value):
        return lambda: _answer(route53, zone_id, name) == [value]

    wait_for(answers("10.0.0.1"), timeout=10, what="the primary while healthy")
    status = route53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
    assert status[0]["StatusReport"]["Status"].startswith("Success")

    endpoint.status = 503
    wait_for(answers("10.0.0.2"), timeout=10, what="the secondary after the endpoint fails")
    status = route53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
    assert status[0]["StatusReport"]["Status"].startswith("Failure")
    assert "503" in status[0]["StatusReport"]["Status"]

    endpoint.status = 200
    wait_for(answers("10.0.0.1"), timeout=10, what="the primary again after recovery")

    route53.update_health_check(HealthCheckId=check_id, Inverted=True)
    wait_for(answers("10.0.0.2"), timeout=10, what="the secondary when the check is inverted")

    # moto keeps flags set by UpdateHealthCheck as "true"/"false" strings: "false" is off
    route53.update_health_check(HealthCheckId=check_id, Inverted=False)
    wait_for(answers("10.0.0.1"), timeout=10, what="the primary when the check is uninverted")

    route53.update_health_check(HealthCheckId=check_id, Disabled=True)
    endpoint.status = 500
    wait_for(answers("10.0.0.1"), timeout=10, what="the primary: a disabled check is healthy")

    route53.update_health_check(HealthCheckId=check_id, Disabled=False)
    wait_for(answers("10.0.0.2"), timeout=10, what="the secondary once the check is re-enabled")


def test_failure_threshold_needs_consecutive_failures(aws, endpoint):
    route53 = aws("route53")
    check_id = _health_check(route53, endpoint.port, FailureThreshold=3)

    def status():
        observations = route53.get_health_check_status(HealthCheckId=check_id)
        return observations["HealthCheckObservations"][0]["StatusReport"]["Status"]

    wait_for(lambda: "HTTP Status Code 200" in status(), timeout=10, what="a first probe")
    endpoint.status = 500
    wait_for(lambda: "HTTP Status Code 500" in status(), timeout=10, what="a failed probe")
    assert status().startswith("Success")  # one failure of three: still healthy
    wait_for(lambda: status().startswith("Failure"), timeout=10, what="three failures in a row")


def test_simple_and_weighted_records_answer(aws):
    route53 = aws("route53")
    domain = f"{unique('records')}.example.test"
    zone_id = _zone(route53, domain)
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": f"www.{domain}",
                "Type": "A",
                "TTL": 60,
                "ResourceRecords": [{"Value": "10.1.0.1"}, {"Value": "10.1.0.2"}],
            },
        },
        *[
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": f"canary.{domain}",
                    "Type": "A",
                    "SetIdentifier": ident,
                    "Weight": weight,
                    "TTL": 60,
                    "ResourceRecords": [{"Value": value}],
                },
            }
            for ident, weight, value in (("stable", 100, "10.2.0.1"), ("new", 0, "10.2.0.2"))
        ],
    ]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    assert _answer(route53, zone_id, f"www.{domain}") == ["10.1.0.1", "10.1.0.2"]
    assert {tuple(_answer(route53, zone_id, f"canary.{domain}")) for _ in range(10)} == {
        ("10.2.0.1",)
    }
    missing = route53.test_dns_answer(
        HostedZoneId=zone_id, RecordName=f"nothing.{domain}", RecordType="A"
    )
    assert missing["ResponseCode"] == "NXDOMAIN" and missing["RecordData"] == []


def _flags(config):
    return config.get("Inverted"), config.get("Disabled")


@pytest.mark.parametrize(
    "updates",
    [
        [{"Inverted": True}, {"Inverted": False}],
        [{"Disabled": True}, {"Disabled": False}],
        [{"Inverted": True, "Disabled": True}, {"Inverted": False}, {"Disabled": False}],
    ],
)
def test_every_api_reports_the_flags_an_update_set(aws, endpoint, updates):
    route53 = aws("route53")
    check_id = _health_check(route53, endpoint.port)
    expected = {"Inverted": False, "Disabled": False}
    for update in updates:
        expected.update(update)
        answered = route53.update_health_check(HealthCheckId=check_id, **update)
        got = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]
        listed = [c for c in route53.list_health_checks()["HealthChecks"] if c["Id"] == check_id]
        wanted = (expected["Inverted"], expected["Disabled"])
        assert _flags(answered["HealthCheck"]["HealthCheckConfig"]) == wanted
        assert _flags(got["HealthCheckConfig"]) == wanted
        assert _flags(listed[0]["HealthCheckConfig"]) == wanted
        assert got["HealthCheckConfig"]["Port"] == endpoint.port


def test_every_api_reports_the_flags_a_check_was_created_with(aws, endpoint):
    route53 = aws("route53")
    check_id = _health_check(route53, endpoint.port, Inverted=True, Disabled=True)
    got = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
    listed = [c for c in route53.list_health_checks()["HealthChecks"] if c["Id"] == check_id]
    assert _flags(got) == (True, True)
    assert _flags(listed[0]["HealthCheckConfig"]) == (True, True)

"""parse_config: the contract's document parses, and every bad field is named."""

import json

import pytest

from chaoskit.layer.config import ConfigError, natural_throttle, parse_config

CONTRACT_EXAMPLE = {
    "version": "v-1732480000-3f2a",
    "expires_at": 1732480900.0,
    "run_id": "20261124T230000Z-ab12cd34",
    "faults": [
        {"kind": "latency", "rate": 1.0, "ms": 800},
        {"kind": "latency", "rate": 1.0, "min_ms": 10, "max_ms": 20},
        {"kind": "exception", "rate": 0.3, "type": "ChaosKitInjectedError", "message": "injected"},
        {"kind": "status", "rate": 1.0, "status_code": 503, "body": "...", "headers": {}},
        {"kind": "timeout", "rate": 1.0, "margin_ms": 50},
        {
            "kind": "sdk_throttle",
            "rate": 1.0,
            "service": "dynamodb",
            "operations": ["PutItem"],
            "error_code": "ProvisionedThroughputExceededException",
            "http_status": 400,
            "latency_ms": 0,
        },
        {
            "kind": "http",
            "rate": 1.0,
            "hosts": ["payments.example.com", "*.stripe.com"],
            "status": 429,
            "retry_after": 1,
            "latency_ms": 0,
            "connection_refused": False,
            "match": {"qualifier": "live", "source": "sqs", "fields": {"detail.type": "X"}},
        },
    ],
}


def test_the_contract_example_parses_from_text_and_from_a_dict() -> None:
    from_text = parse_config(json.dumps(CONTRACT_EXAMPLE))
    from_dict = parse_config(CONTRACT_EXAMPLE)
    assert from_text == from_dict
    assert from_text.version == "v-1732480000-3f2a"
    assert from_text.run_id == "20261124T230000Z-ab12cd34"
    assert [f.kind for f in from_text.faults] == [
        "latency", "latency", "exception", "status", "timeout", "sdk_throttle", "http",
    ]  # fmt: skip
    http = from_text.faults[-1]
    assert http.match is not None
    assert http.match.qualifiers == ("live",)
    assert http.match.source == "sqs"
    assert http.match.fields == (("detail.type", "X"),)
    assert from_text.faults[2].rate == 0.3


def test_iso_expiry_is_read_as_utc_and_compared_with_now() -> None:
    cfg = parse_config({"version": "v", "expires_at": "2026-11-24T23:00:00Z", "faults": []})
    assert cfg.expires_at == 1795561200.0
    assert cfg.is_expired(1795561200.0)
    assert not cfg.is_expired(1795561199.0)
    naive = parse_config({"version": "v", "expires_at": "2026-11-24T23:00:00", "faults": []})
    assert naive.expires_at == cfg.expires_at


def test_absent_or_null_faults_mean_no_faults() -> None:
    assert parse_config({"version": "v", "expires_at": 1}).faults == ()
    assert parse_config({"version": "v", "expires_at": 1, "faults": None}).faults == ()


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({"expires_at": 1}, "'version'"),
        ({"version": "", "expires_at": 1}, "'version'"),
        ({"version": "v"}, "'expires_at'"),
        ({"version": "v", "expires_at": "tomorrow"}, "'expires_at'"),
        ({"version": "v", "expires_at": True}, "'expires_at'"),
        ({"version": "v", "expires_at": 1, "faults": {}}, "'faults'"),
        ({"version": "v", "expires_at": 1, "faults": [{"kind": "meteor", "rate": 1}]}, "meteor"),
        ({"version": "v", "expires_at": 1, "faults": [{"kind": "latency", "ms": 1}]}, ".rate"),
        (
            {"version": "v", "expires_at": 1, "faults": [{"kind": "latency", "rate": 2, "ms": 1}]},
            "faults[0] (latency).rate",
        ),
        ({"version": "v", "expires_at": 1, "faults": [{"kind": "latency", "rate": 1}]}, "'ms'"),
        (
            {"version": "v", "expires_at": 1,
             "faults": [{"kind": "latency", "rate": 1, "min_ms": 9, "max_ms": 2}]},
            "min_ms",
        ),
        (
            {"version": "v", "expires_at": 1, "faults": [{"kind": "status", "rate": 1}]},
            "status_code is required",
        ),
        (
            {"version": "v", "expires_at": 1,
             "faults": [{"kind": "status", "rate": 1, "status_code": "503"}]},
            "status_code must be int",
        ),
        (
            {"version": "v", "expires_at": 1,
             "faults": [{"kind": "status", "rate": 1, "status_code": 503, "stauts": 1}]},
            "unknown field(s) stauts",
        ),
        (
            {"version": "v", "expires_at": 1, "faults": [{"kind": "sdk_throttle", "rate": 1}]},
            "service is required",
        ),
        (
            {"version": "v", "expires_at": 1,
             "faults": [{"kind": "http", "rate": 1, "hosts": ["a.example"]}]},
            "needs 'status'",
        ),
        (
            {"version": "v", "expires_at": 1,
             "faults": [{"kind": "http", "rate": 1, "hosts": [], "status": 429}]},
            "hosts",
        ),
        (
            {"version": "v", "expires_at": 1,
             "faults": [{"kind": "exception", "rate": 1, "match": {"source": "ftp"}}]},
            "match.source 'ftp'",
        ),
        (
            {"version": "v", "expires_at": 1,
             "faults": [{"kind": "exception", "rate": 1, "match": {"alias": "live"}}]},
            "match has unknown field(s) alias",
        ),
    ],
)  # fmt: skip
def test_a_bad_document_is_refused_naming_the_field(document: object, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document)  # type: ignore[arg-type]
    assert named in str(caught.value)


def test_config_error_is_a_value_error_so_callers_can_catch_either() -> None:
    assert issubclass(ConfigError, ValueError)


def test_natural_throttle_codes_are_the_ones_each_service_really_returns() -> None:
    assert natural_throttle("dynamodb") == ("ProvisionedThroughputExceededException", 400)
    assert natural_throttle("s3") == ("SlowDown", 503)
    assert natural_throttle("lambda") == ("TooManyRequestsException", 429)
    assert natural_throttle("ec2") == ("RequestLimitExceeded", 503)
    assert natural_throttle("sqs") == ("ThrottlingException", 400)


def test_the_public_api_is_pinned() -> None:
    import chaoskit.layer

    assert sorted(chaoskit.layer.__all__) == [
        "ConfigError", "FaultConfig", "Layer", "inject", "parse_config",
    ]  # fmt: skip
    assert chaoskit.layer.parse_config is parse_config
    assert chaoskit.layer.ConfigError is ConfigError


def test_the_layer_imports_only_the_standard_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import chaoskit.layer.handler; "
        "print(sorted(m for m in ('boto3', 'botocore', 'chaoslib', 'click', 'yaml') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"

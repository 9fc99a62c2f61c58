"""Events generated for an EventBridge rule match its pattern, by EventBridge's own matcher.

Each example is checked with moto's implementation of EventBridge's pattern rules (what
its ``PutEvents`` routes by), with the ``chaoskit`` mark ``send_events`` adds to
``detail``; a pattern the example's field values miss is checked not to match, so the
matcher is seen to say no.
"""

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from chaoskit.suite.patterns import example

MATCHED = [
    {"source": ["orders.api"], "detail-type": ["Order placed"]},
    {"source": ["a", "b"], "detail": {"status": ["PAID", "SHIPPED"]}},
    {"detail": {"amount": [{"numeric": [">", 100, "<=", 500]}]}},
    {"detail": {"amount": [{"numeric": ["<", 0]}], "count": [{"numeric": [">=", 3]}]}},
    {"detail": {"id": [{"numeric": ["=", 7]}]}},
    {"detail": {"customer": {"tier": [{"prefix": "gold"}], "region": [{"suffix": "-1"}]}}},
    {"detail": {"state": [{"anything-but": ["cancelled", "failed"]}]}},
    {"detail": {"code": [{"anything-but": [404, 500]}]}},
    {"detail": {"name": [{"anything-but": {"prefix": "test-"}}]}},
    {"detail": {"flag": [True], "missing": [{"exists": False}], "there": [{"exists": True}]}},
    {"detail": {"nothing": [None]}},
    {"detail": {"kind": [{"equals-ignore-case": "Refund"}]}},
    {"detail": {"path": [{"wildcard": "orders/*/items"}]}},
    {"detail": {"$or": [{"a": [{"cidr": "10.0.0.0/24"}]}, {"b": ["yes"]}]}},
    {"source": ["orders"], "account": ["123456789012"], "region": ["us-east-1"]},
    {"detail": {"ip": [{"cidr": "10.0.0.0/24"}], "v6": [{"cidr": "2001:db8::/64"}]}},
    {"detail": {"host": [{"cidr": "192.168.1.7/32"}]}},
    # The reference layout of a real rule: a detail filter on top of source and type.
    {
        "source": ["bankbranch.events"],
        "detail-type": ["Bank transaction"],
        "detail": {"bop_reportable": ["Yes"]},
    },
]

NOT_COVERED = [
    {"source": ["aws.s3"], "detail-type": ["Object Created"]},  # PutEvents refuses aws.*
    {"resources": ["arn:aws:s3:::bucket"]},  # send_events does not set resources
    {"detail": {"n": [{"numeric": [">", 5, "<", 5]}]}},  # no number fits
    {"detail": {"x": [{"unknown-filter": 1}]}},
    {"detail": {"chaoskit": ["x"]}},  # chaoskit's own mark would break it
    {"source": [1]},
    "not a pattern",
    {},
]


def _event(found: dict[str, Any]) -> dict[str, Any]:
    detail = {**found["detail"], "chaoskit": {"run_id": "r", "event_id": "e", "sent_at": 1.0}}
    return {
        "id": "1",
        "version": "0",
        "account": "123456789012",
        "time": "2026-12-02T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "source": found.get("source", "chaoskit.load"),
        "detail-type": found.get("detail-type", "ChaosKitEvent"),
        "detail": detail,
    }


@pytest.mark.parametrize("pattern", MATCHED, ids=lambda p: json.dumps(p)[:60])
def test_the_example_event_is_one_eventbridge_matches(pattern: dict[str, Any]) -> None:
    found = example(pattern)
    assert found is not None, pattern
    assert EventPattern.load(json.dumps(pattern)).matches_event(_event(found)), (pattern, found)


def test_the_matcher_says_no_to_an_event_the_pattern_does_not_allow() -> None:
    pattern = {"detail": {"amount": [{"numeric": [">", 100]}]}}
    found = example(pattern)
    assert found is not None
    found["detail"]["amount"] = 100
    assert not EventPattern.load(json.dumps(pattern)).matches_event(_event(found))


@pytest.mark.parametrize("pattern", NOT_COVERED, ids=lambda p: json.dumps(p)[:60])
def test_a_pattern_no_generated_event_is_sure_to_match_gives_none(pattern: Any) -> None:
    assert example(pattern) is None


def test_a_rule_filtering_on_detail_gets_an_errors_experiment_with_a_matching_payload(
    tmp_path: Any,
) -> None:
    from chaoskit.suite import generate_suite
    from tests.suite.test_suite_plan import _function, _write_template

    pattern = {"source": ["shop"], "detail": {"total": [{"numeric": [">", 10]}]}}
    rule = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "EventPattern": pattern,
            "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Id": "fn"}],
        },
    }
    suite = generate_suite(
        template=_write_template(tmp_path, {"Fn": _function(), "Rule": rule}), stack_name="s"
    )
    errors = next(p for p in suite.experiments if p.kind == "errors").experiment
    send = next(s for s in errors["method"] if s["provider"].get("func") == "send_events")
    arguments = send["provider"]["arguments"]
    assert arguments["source"] == "shop" and arguments["payload"] == {"total": 11}

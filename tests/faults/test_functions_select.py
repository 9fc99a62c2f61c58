"""Selecting functions by name, ARN or tags against the moto server."""

from typing import Any

import pytest
from ck_faults_aws import make_function

from chaoskit.errors import BadInput
from chaoskit.functions.select import names_list, select_functions


@pytest.fixture
def functions(aws_env: dict[str, str]) -> dict[str, Any]:
    arns = {
        "orders-a": make_function(aws_env, "orders-a", {"team": "orders", "chaos": "yes"}),
        "orders-b": make_function(aws_env, "orders-b", {"team": "orders"}),
        "payments": make_function(aws_env, "payments", {"team": "payments"}),
    }
    return {"config": aws_env, "arns": arns}


def test_by_name_arn_and_qualified_arn(functions: dict[str, Any]) -> None:
    cfg, arns = functions["config"], functions["arns"]
    refs = select_functions(["orders-a", arns["orders-b"], arns["payments"] + ":live"], None, cfg)
    assert [r.name for r in refs] == ["orders-a", "orders-b", "payments"]
    assert refs[0].arn == arns["orders-a"]
    assert refs[0].tags == {"team": "orders", "chaos": "yes"}


def test_by_tags_every_pair_must_match(functions: dict[str, Any]) -> None:
    cfg = functions["config"]
    assert [r.name for r in select_functions(None, {"team": "orders"}, cfg)] == [
        "orders-a",
        "orders-b",
    ]
    assert [r.name for r in select_functions(None, {"team": "orders", "chaos": "yes"}, cfg)] == [
        "orders-a"
    ]


def test_names_and_tags_add_up_without_duplicates(functions: dict[str, Any]) -> None:
    refs = select_functions("orders-a, payments", {"chaos": "yes"}, functions["config"])
    assert [r.name for r in refs] == ["orders-a", "payments"]


def test_refusals_name_the_value(functions: dict[str, Any]) -> None:
    cfg = functions["config"]
    with pytest.raises(BadInput, match="function 'nope' not found"):
        select_functions(["nope"], None, cfg)
    with pytest.raises(BadInput, match="no function carries the tags"):
        select_functions(None, {"team": "nobody"}, cfg)
    with pytest.raises(BadInput, match="give function_names"):
        select_functions(None, None, cfg)
    with pytest.raises(BadInput, match="not a Lambda function ARN"):
        select_functions(["arn:aws:sqs:us-east-1:123456789012:q"], None, cfg)


def test_names_list_accepts_strings_and_lists() -> None:
    assert names_list(" a, b ,") == ["a", "b"]
    assert names_list(["a", " b"]) == ["a", "b"]
    assert names_list(None) == []

"""Versions and aliases: a weighted alias (a canary) routes invocations to both versions."""

import json

from tests.support.sandbox import create_function, unique, wait_for


def test_update_alias_with_a_routing_config_splits_traffic(aws):
    lam = aws("lambda")
    name = unique("canary")
    create_function(aws, name, env={"COLOUR": "blue"})
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"COLOUR": "green"}}
    )
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    v2 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1)

    updated = lam.update_alias(
        FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {v2: 0.5}}
    )
    assert updated["RoutingConfig"]["AdditionalVersionWeights"] == {v2: 0.5}
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == v1

    seen = set()

    def both_versions():
        response = lam.invoke(FunctionName=f"{name}:live", Payload=json.dumps({}))
        seen.add(response["ExecutedVersion"])
        return seen == {v1, v2}

    wait_for(both_versions, timeout=30, interval=0.05, what="invocations of both versions")

    lam.update_alias(FunctionName=name, Name="live", FunctionVersion=v2, RoutingConfig={})
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert alias["FunctionVersion"] == v2 and not alias.get("RoutingConfig")


def test_the_configuration_of_an_alias_is_its_versions(aws):
    lam = aws("lambda")
    name = unique("alias-config")
    create_function(aws, name, env={"COLOUR": "blue"})
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1)
    lam.update_function_configuration(FunctionName=name, Timeout=9)
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )

    by_name = lam.get_function_configuration(FunctionName=f"{name}:live")
    by_qualifier = lam.get_function_configuration(FunctionName=name, Qualifier="live")

    expected = lam.get_function(FunctionName=name, Qualifier="live")["Configuration"]
    for config in (by_name, by_qualifier):
        config.pop("ResponseMetadata")
        assert config["Version"] == v1 and config["Timeout"] != 9
        assert config == expected

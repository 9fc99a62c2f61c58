"""The layer on a function invoked through an alias (CDK `currentVersion`, SAM `AutoPublishAlias`).

Enabling the layer changes ``$LATEST`` only; an alias on a published version ran
without it, so its faults never fired and its events were not traced (a third-party
CDK app's errors experiment was inconclusive for that reason). The alias is now moved
to a version published with the layer, and moved back on rollback, the version deleted.
"""

import json
from typing import Any

import pytest

from chaoskit.errors import BadInput
from chaoskit.faults import _aliases, inject, layer
from chaoskit.undo.actions import rollback_current_run
from tests.support.sandbox import create_function, unique


def _versions(lam: Any, name: str) -> dict[str, str]:
    found = lam.list_versions_by_function(FunctionName=name)["Versions"]
    return {v["Version"]: v.get("Description", "") for v in found if v["Version"] != "$LATEST"}


def _layers(lam: Any, qualified: str) -> list[str]:
    config = lam.get_function_configuration(FunctionName=qualified)
    return [entry["Arn"] for entry in config.get("Layers") or []]


def _published_with_alias(aws: Any, prefix: str) -> tuple[str, str]:
    lam = aws("lambda")
    name = unique(prefix)
    create_function(aws, name)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    return name, version


def test_an_alias_runs_the_layer_during_the_run_and_its_version_after(
    aws: Any, sandbox: dict[str, Any]
) -> None:
    lam = aws("lambda")
    name, version = _published_with_alias(aws, "aliased")
    run = {**sandbox, "chaoskit_run_id": unique("run")}

    enabled = layer.enable_chaoskit_layer(f"{name}:live", configuration=run)

    moved = enabled["aliases"]["live"]
    assert moved != version
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == moved
    assert any(":layer:chaoskit" in arn for arn in _layers(lam, f"{name}:{moved}"))
    again = layer.enable_chaoskit_layer(name, aliases=["live"], configuration=run)
    assert again["aliases"] == {}  # already moved by this run: nothing more published
    assert set(_versions(lam, name)) == {version, moved}
    # a fault on the function now fires through the alias
    inject.inject_exception(name, exception_type="Injected", configuration=run)
    layer.wait_for_fault_live(name, timeout=60, ping=True, configuration=run)
    response = lam.invoke(FunctionName=f"{name}:live", Payload=json.dumps({}))
    assert response.get("FunctionError") == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Injected"
    assert response["ExecutedVersion"] == moved

    rows = rollback_current_run(configuration=run)

    assert {r["status"] for r in rows} == {"restored"}, rows
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == version
    assert list(_versions(lam, name)) == [version]  # the published one is gone
    assert _layers(lam, name) == []
    response = lam.invoke(FunctionName=f"{name}:live", Payload=json.dumps({"echo": 1}))
    assert response.get("FunctionError") is None
    assert response["ExecutedVersion"] == version


def test_an_alias_whose_version_differs_from_latest_is_refused_before_any_change(
    aws: Any, sandbox: dict[str, Any]
) -> None:
    lam = aws("lambda")
    name, version = _published_with_alias(aws, "drifted")
    lam.update_function_configuration(FunctionName=name, Timeout=9)
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    run = {**sandbox, "chaoskit_run_id": unique("run")}

    with pytest.raises(BadInput, match=r"alias 'live'.*version 1.*Timeout"):
        layer.enable_chaoskit_layer(name, aliases=["live"], configuration=run)

    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == version
    assert _layers(lam, name) == [] and list(_versions(lam, name)) == [version]
    assert rollback_current_run(configuration=run) == []


def test_versions_left_by_a_crash_are_deleted_unless_an_alias_uses_one(
    aws: Any, sandbox: dict[str, Any]
) -> None:
    lam = aws("lambda")
    name, version = _published_with_alias(aws, "crashed")
    description = "chaoskit layer, run crashed-run"
    lam.update_function_configuration(FunctionName=name, Timeout=7)
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    orphan = lam.publish_version(FunctionName=name, Description=description)["Version"]
    lam.update_function_configuration(FunctionName=name, Timeout=8)
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    used = lam.publish_version(FunctionName=name, Description=description)["Version"]
    lam.create_alias(FunctionName=name, Name="other", FunctionVersion=used)

    _aliases.restore_published_versions(
        {"function_name": name, "description": description}, sandbox
    )

    assert set(_versions(lam, name)) == {version, used}
    assert orphan not in _versions(lam, name)

"""After a rollback of injected faults returns, no warm environment still injects them.

The layer reads the fault store at most once per ``CHAOSKIT_CONFIG_TTL``: a warm
environment keeps what it read for that long. Where the layer stays on the function
after the run (the user installed it, in their template), restoring the fault
parameter is not enough: the next experiment, or production traffic, would meet the
old fault until every cache expired.
"""

import json
from typing import Any

from chaoskit.faults import inject, layer
from chaoskit.functions import layer_env
from chaoskit.ledger import store
from chaoskit.undo.actions import rollback_current_run
from chaoskit.undo.restore import pending_runs
from tests.support.sandbox import create_function, unique

TTL = 4  # seconds: longer than a rollback takes, so a stale cache is certain without the wait


def _invoke(aws: Any, name: str) -> dict[str, Any]:
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps({"echo": 1}))
    body = json.loads(response["Payload"].read())
    return {"error": response.get("FunctionError"), "body": body}


def _install_layer(aws: Any, name: str, configuration: dict[str, Any]) -> None:
    """Put the layer and its variables on the function outside any run, as a user would."""
    lam = aws("lambda")
    current = lam.get_function_configuration(FunctionName=name)
    plan = layer_env.plan_enable(
        name, current, layer_env.publish_layer(configuration), configuration, config_ttl=TTL
    )
    variables = {**current.get("Environment", {}).get("Variables", {}), **plan.wanted}
    lam.update_function_configuration(
        FunctionName=name, Layers=plan.layers, Environment={"Variables": variables}
    )
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    store.ensure_table(configuration)


def test_a_rolled_back_fault_no_longer_fires_where_the_layer_stays(
    aws: Any, sandbox: dict[str, Any]
) -> None:
    name = unique("rolled-back")
    create_function(aws, name)
    _install_layer(aws, name, sandbox)  # as the user's own template would: no run holds it
    run = {**sandbox, "chaoskit_run_id": unique("run")}
    inject.inject_exception(name, exception_type="Injected", configuration=run)
    layer.wait_for_fault_live(name, timeout=60, ping=True, configuration=run)
    fired = _invoke(aws, name)  # the warm environment reads the store again, now cached
    assert fired["error"] == "Unhandled" and fired["body"]["errorType"] == "Injected", fired

    rows = rollback_current_run(configuration=run)

    assert [r["status"] for r in rows] == ["restored"]
    after = [_invoke(aws, name) for _ in range(3)]
    assert [a["error"] for a in after] == [None] * 3, after
    assert [a["body"].get("echo") for a in after] == [1] * 3, after
    assert run["chaoskit_run_id"] not in pending_runs()


def test_a_run_that_also_removes_the_layer_leaves_no_fault_behind(
    aws: Any, sandbox: dict[str, Any]
) -> None:
    name = unique("layer-removed")
    create_function(aws, name)
    run = {**sandbox, "chaoskit_run_id": unique("run")}
    layer.enable_chaoskit_layer(name, config_ttl=TTL, configuration=run)
    inject.inject_exception(name, exception_type="Injected", configuration=run)
    layer.wait_for_fault_live(name, timeout=60, ping=True, configuration=run)
    assert _invoke(aws, name)["error"] == "Unhandled"

    rows = rollback_current_run(configuration=run)

    assert sorted(r["status"] for r in rows) == ["restored", "restored"]
    after = [_invoke(aws, name) for _ in range(3)]
    assert [a["error"] for a in after] == [None] * 3, after

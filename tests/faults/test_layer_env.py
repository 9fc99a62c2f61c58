"""One builder of the layer's environment: the action and the app's deploy agree on it.

The reference app's deploy (``experiments/app/deploy.py``) used to copy the
enable action's variables by hand; the copy ignored ``chaoskit_config_ttl``,
the fault ceiling and the enable snapshot. Both now call
:func:`chaoskit.functions.layer_env.plan_enable`.
"""

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import reference_app

from chaoskit import aws, envvars
from chaoskit.faults import layer
from chaoskit.functions import config as lc
from chaoskit.functions import layer_env

FUNCTION = "orders-worker"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


@pytest.fixture
def cfg(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(envvars.HOME, str(tmp_path / "home"))
    config = {
        **aws_env,
        "chaoskit_run_id": "run-layer-env",
        "chaoskit_config_ttl": 7,
        "chaoskit_max_fault_duration": 120,
        "chaoskit_ledger_table": "ledger-x",
    }
    role = aws.client("iam", config).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    aws.client("lambda", config).create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"APP": "1"}},
    )
    return config


def test_deploy_sets_exactly_the_variables_the_enable_action_sets(cfg: dict[str, Any]) -> None:
    candidate = reference_app.load().candidate_layer(cfg)  # the reference app's deploy
    assert candidate is not None
    enabled = layer.enable_chaoskit_layer(FUNCTION, layer_arn=candidate["layer"], configuration=cfg)
    env = lc.environment_of(lc.get_configuration(FUNCTION, cfg)) or {}
    owned = {k: v for k, v in env.items() if k != "APP"}
    assert candidate["env"] == owned
    assert enabled["variables"][envvars.CONFIG_TTL] == "7"
    assert candidate["env"][envvars.MAX_FAULT_SECONDS] == "120"
    # The snapshot rides on the version too: it records the function as it was before.
    snap = json.loads(candidate["env"][envvars.ENABLE_SNAPSHOT])
    assert snap["environment"][envvars.CONFIG_TTL] is None
    assert snap["environment_present"] is True


def test_a_refused_wrapper_publishes_no_layer(cfg: dict[str, Any]) -> None:
    current = {**lc.get_configuration(FUNCTION, cfg)}
    current["Environment"] = {"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/other"}}
    published: list[str] = []
    with pytest.raises(layer_env.LayerRefused, match="'/opt/other'"):
        layer_env.plan_enable(
            FUNCTION, current, lambda: published.append("x") or "arn", cfg, None, "refuse"
        )
    assert published == []

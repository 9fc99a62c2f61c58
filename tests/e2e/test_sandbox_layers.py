"""Layers at /opt: modules importable, /opt paths in env vars honoured, exec wrappers run."""

import json
import time

from tests.support.sandbox import create_function, unique, zip_files

WRAPPER = """#!/bin/sh
# An exec wrapper as Lambda runs it: it gets the runtime's command as its arguments.
export WRAPPED_BY="layer-wrapper"
exec "$@"
"""


def test_layer_module_is_importable_and_its_exec_wrapper_runs(aws):
    lam = aws("lambda")
    layer = lam.publish_layer_version(
        LayerName=unique("test-layer"),
        Content={
            "ZipFile": zip_files(
                {
                    "python/chaoskit_test_layer.py": "VALUE = 'from the layer'\n",
                    "wrapper.sh": WRAPPER,
                    "marker.txt": "here",
                },
                modes={"wrapper.sh": 0o755},
            )
        },
        CompatibleRuntimes=["python3.12"],
    )
    name = unique("layered")
    create_function(
        aws,
        name,
        handler="probe.layer_handler",
        layers=[layer["LayerVersionArn"]],
        env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrapper.sh", "LAYER_MARKER": "/opt/marker.txt"},
    )
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    assert body["layer"] == "from the layer"
    assert body["wrapped"] == "layer-wrapper"
    assert body["handler_env"] == "probe.layer_handler"
    assert body["marker_file"].endswith("/marker.txt") and body["marker_file"] != "/opt/marker.txt"
    assert body["marker_exists"] is True


def test_later_layers_override_earlier_ones(aws):
    lam = aws("lambda")
    arns = []
    for value in ("first", "second"):
        arns.append(
            lam.publish_layer_version(
                LayerName=unique(f"layer-{value}"),
                Content={
                    "ZipFile": zip_files({"python/chaoskit_test_layer.py": f"VALUE = '{value}'\n"})
                },
            )["LayerVersionArn"]
        )
    name = unique("two-layers")
    create_function(aws, name, handler="probe.layer_handler", layers=arns)
    body = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert body["layer"] == "second"


def test_the_chaoskit_layer_wraps_the_handler_through_its_exec_wrapper(aws, tmp_path):
    from chaoskit.layer.build import build_layer_zip

    lam = aws("lambda")
    layer_zip = build_layer_zip(tmp_path / "chaoskit-layer.zip")
    layer = lam.publish_layer_version(
        LayerName=unique("chaoskit"), Content={"ZipFile": layer_zip.read_bytes()}
    )
    config = {
        "version": "v-1",
        "expires_at": time.time() + 3600,
        "faults": [{"kind": "exception", "rate": 1.0, "message": "injected by the test"}],
    }
    name = unique("chaos")
    create_function(
        aws,
        name,
        layers=[layer["LayerVersionArn"]],
        env={
            "AWS_LAMBDA_EXEC_WRAPPER": "/opt/chaoskit-wrapper",
            "CHAOSKIT_CONFIG": json.dumps(config),
        },
    )
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"echo": 1}))
    body = json.loads(response["Payload"].read())
    assert response.get("FunctionError") == "Unhandled", body
    assert body["errorMessage"] == "injected by the test"

    lam.update_function_configuration(
        FunctionName=name,
        Environment={
            "Variables": {
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/chaoskit-wrapper",
                "CHAOSKIT_DISABLED": "1",
            }
        },
    )
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"echo": 2}))
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    assert body["echo"] == 2

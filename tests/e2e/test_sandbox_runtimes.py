"""Old Python runtimes: python3.9 runs with libraries that import on 3.9; older is refused."""

import json

import pytest

from tests.support.sandbox import ROLE, function_zip, unique, wait_for


def _create(aws, name: str, runtime: str) -> None:
    aws("lambda").create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="probe.handler",
        Code={"ZipFile": function_zip()},
        Timeout=10,
    )


def _state(aws, name: str) -> dict:
    def settled():
        config = aws("lambda").get_function(FunctionName=name)["Configuration"]
        return config if config["State"] != "Pending" else None

    return wait_for(settled, timeout=30, what=f"{name} to leave Pending")


def test_a_python_3_9_function_runs_and_its_boto3_works(aws):
    # Before the fix every call failed in urllib3 2.x: "unsupported operand type(s) for |".
    name = unique("py39")
    _create(aws, name, "python3.9")
    assert _state(aws, name)["State"] == "Active"
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps({"echo": 1}))
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    if body["python"] != "3.9":
        pytest.skip("no local Python 3.9 (pyenv): the sandbox ran the function on a fallback")
    assert body["boto3"] and body["echo"] == 1


@pytest.mark.parametrize("runtime", ["python3.8", "python3.7"])
def test_a_runtime_older_than_3_9_is_refused_at_create_time_with_the_reason(aws, runtime):
    name = unique("old")
    _create(aws, name, runtime)
    config = _state(aws, name)
    assert config["State"] == "Failed"
    assert f"runtime '{runtime}' is not supported" in config["StateReason"]
    assert "python3.10 or newer" in config["StateReason"]

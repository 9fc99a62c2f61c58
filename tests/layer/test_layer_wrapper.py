"""Activation: the exec wrapper (a real subprocess, loaded the way Lambda's bootstrap does),
vendored mode, the decorator, and the layer zip's layout."""

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from layer_helpers import config

from chaoskit import envvars
from chaoskit.cli.layer import command as layer_command
from chaoskit.layer import handler as handler_module
from chaoskit.layer import inject
from chaoskit.layer.build import build_layer_zip, vendor_into
from tests.support.lambda_context import FakeContext

#: What Lambda's Python bootstrap does with _HANDLER: import "path/module", take "function".
BOOTSTRAP = """
import importlib, json, os, sys

class Context:
    function_name = "orders-worker"
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders-worker:live"
    def get_remaining_time_in_millis(self):
        return 50

spec = os.environ["_HANDLER"]
module_name, function_name = spec.rsplit(".", 1)
handler = getattr(importlib.import_module(module_name.replace("/", ".")), function_name)
for line in sys.argv[1:]:
    try:
        out = {"result": handler(json.loads(line), Context())}
    except Exception as err:
        out = {"errorType": type(err).__name__, "errorMessage": str(err)}
    out["_HANDLER"] = spec
    out["chaoskit"] = getattr(sys.modules.get("chaoskit"), "__file__", None)
    print(json.dumps(out), flush=True)
"""

APP = """
import os
CALLS = []

def handler(event, context):
    CALLS.append(event)
    return {"ran": len(CALLS), "chained": os.environ.get("CHAINED_WRAPPER_RAN")}
"""

CHAINED = """#!/bin/sh
export CHAINED_WRAPPER_RAN=yes
exec "$@"
"""


@pytest.fixture
def function_dirs(tmp_path: Path) -> dict[str, Path]:
    opt = tmp_path / "opt"
    with zipfile.ZipFile(build_layer_zip(tmp_path / "layer.zip")) as archive:
        archive.extractall(opt)
    (opt / "chaoskit-wrapper").chmod(0o755)  # zipfile does not restore modes
    task = tmp_path / "task" / "src"
    task.mkdir(parents=True)
    (task / "app.py").write_text(APP)
    (tmp_path / "bootstrap.py").write_text(BOOTSTRAP)
    return {"opt": opt, "task": tmp_path / "task", "root": tmp_path}


def _run(
    dirs: dict[str, Path], env: dict[str, str], events: list[Any], wrapper: bool = True,
    pythonpath: list[Path] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    paths = pythonpath or [dirs["opt"] / "python", dirs["task"]]
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        **env,
    }
    argv = [sys.executable, str(dirs["root"] / "bootstrap.py"), *map(json.dumps, events)]
    if wrapper:
        argv = [str(dirs["opt"] / "chaoskit-wrapper"), *argv]
    done = subprocess.run(
        argv, env=full_env, capture_output=True, text=True, timeout=60, cwd=dirs["task"]
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"')]


def _results(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "chaoskit" in line and "_HANDLER" in line]


def test_the_exec_wrapper_puts_chaoskit_in_front_of_the_original_handler(
    function_dirs: dict[str, Path],
) -> None:
    env = {"_HANDLER": "src/app.handler",
           envvars.CONFIG: config({"kind": "exception", "rate": 1, "type": "OrdersDown",
                                   "match": {"fields": {"fail": True}}})}  # fmt: skip
    out = _results(_run(function_dirs, env, [{"fail": False}, {"fail": True}, {"fail": False}]))
    assert [o["_HANDLER"] for o in out] == ["chaoskit.layer.handler.handler"] * 3
    assert out[0]["result"] == {"ran": 1, "chained": None}
    assert out[1]["errorType"] == "OrdersDown"  # Lambda reports the invocation as an error
    assert out[2]["result"]["ran"] == 2  # the original handler ran exactly once per clean event
    # The layer's copy of chaoskit was used, not the one installed for the tests.
    assert out[0]["chaoskit"].startswith(str(function_dirs["opt"]))


def test_the_wrapper_chains_the_functions_own_exec_wrapper(
    function_dirs: dict[str, Path],
) -> None:
    chained = function_dirs["root"] / "chained-wrapper"
    chained.write_text(CHAINED)
    chained.chmod(0o755)
    env = {"_HANDLER": "src/app.handler", envvars.ORIGINAL_EXEC_WRAPPER: str(chained)}
    (out,) = _results(_run(function_dirs, env, [{}]))
    assert out["result"] == {"ran": 1, "chained": "yes"}
    assert out["_HANDLER"] == "chaoskit.layer.handler.handler"


def test_the_wrapper_with_the_kill_switch_leaves_the_handler_alone(
    function_dirs: dict[str, Path],
) -> None:
    env = {"_HANDLER": "src/app.handler", envvars.DISABLED: "1",
           envvars.CONFIG: config({"kind": "exception", "rate": 1})}  # fmt: skip
    (out,) = _results(_run(function_dirs, env, [{}]))
    assert out["_HANDLER"] == "src/app.handler"
    assert out["result"] == {"ran": 1, "chained": None}


def test_a_ping_through_the_wrapper_is_answered_without_the_handler(
    function_dirs: dict[str, Path],
) -> None:
    env = {"_HANDLER": "src/app.handler", envvars.CONFIG: config(version="v-42")}
    pong, after = _results(_run(function_dirs, env, [{"chaoskit_ping": True}, {}]))
    assert pong["result"]["chaoskit"] == "pong" and pong["result"]["version"] == "v-42"
    assert after["result"]["ran"] == 1


def test_a_timeout_through_the_wrapper_fails_the_invocation(
    function_dirs: dict[str, Path],
) -> None:
    # The bootstrap's context has 50 ms left: the fault sleeps ~60 ms, not seconds.
    env = {"_HANDLER": "src/app.handler",
           envvars.CONFIG: config({"kind": "timeout", "rate": 1, "margin_ms": 10})}  # fmt: skip
    (out,) = _results(_run(function_dirs, env, [{}]))
    assert out["errorType"] == "ChaosKitInjectedTimeout"


def test_vendored_mode_runs_from_the_function_code_alone(
    function_dirs: dict[str, Path],
) -> None:
    vendor_into(function_dirs["task"])
    env = {"_HANDLER": "chaoskit.layer.handler.handler",
           envvars.ORIGINAL_HANDLER: "src/app.handler",
           envvars.CONFIG: config({"kind": "status", "rate": 1, "status_code": 429})}  # fmt: skip
    (out,) = _results(
        _run(function_dirs, env, [{}], wrapper=False, pythonpath=[function_dirs["task"]])
    )
    assert out["result"]["statusCode"] == 429
    assert out["chaoskit"].startswith(str(function_dirs["task"]))


def test_the_decorator_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(envvars.CONFIG, config({"kind": "status", "rate": 1, "status_code": 503}))
    calls: list[Any] = []

    @inject
    def handler(event: Any, context: Any) -> Any:
        calls.append(event)
        return "ok"

    assert handler({}, FakeContext())["statusCode"] == 503
    assert calls == []
    monkeypatch.setenv(envvars.CONFIG, config({"kind": "status", "rate": 0, "status_code": 503}))
    assert handler({}, FakeContext()) == "ok"
    assert calls == [{}]
    assert handler.__name__ == "handler"


def test_the_handler_module_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(envvars.ORIGINAL_HANDLER, "operator.is_not")
    monkeypatch.delenv(envvars.CONFIG, raising=False)
    monkeypatch.delenv(envvars.CONFIG_PARAMETER, raising=False)
    handler_module.reset()
    try:
        assert handler_module.handler({"a": 1}, None) is True
        monkeypatch.setenv(envvars.ORIGINAL_HANDLER, "")
        handler_module.reset()
        with pytest.raises(Exception, match="CHAOSKIT_ORIGINAL_HANDLER") as caught:
            handler_module.handler({}, None)
        assert type(caught.value).__name__ == "Runtime.HandlerNotFound"
    finally:
        handler_module.reset()


def test_the_zip_layout_and_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(layer_command, ["build", "--output", str(tmp_path / "l.zip")])
    assert result.exit_code == 0, result.output
    path, size, _unit = result.output.split()
    assert Path(path) == tmp_path / "l.zip" and int(size) == (tmp_path / "l.zip").stat().st_size
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        wrapper_mode = archive.getinfo("chaoskit-wrapper").external_attr >> 16
    assert "chaoskit-wrapper" in names and wrapper_mode & 0o111
    assert "python/chaoskit/layer/handler.py" in names
    assert "python/chaoskit/ledger/trace.py" in names
    assert "python/chaoskit/aws.py" not in names  # boto3-dependent runner code stays out
    assert all(
        n == "chaoskit-wrapper"
        or n.startswith("python/chaoskit/")
        or n.startswith("nodejs/node_modules/chaoskit-layer/")
        for n in names
    )
    assert "nodejs/node_modules/chaoskit-layer/handler.mjs" in names
    assert not any(n.startswith("python/chaoskit/layer/node/") for n in names)
    again = build_layer_zip(tmp_path / "again.zip")
    assert again.read_bytes() == Path(path).read_bytes()  # reproducible


def test_the_cli_vendors_into_a_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(layer_command, ["build", "--vendor", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "chaoskit" / "layer" / "handler.py").is_file()
    bad = CliRunner().invoke(layer_command, ["build", "--vendor", str(tmp_path / "absent")])
    assert bad.exit_code == 2


def test_precompiled_bytecode_is_used_without_checking_the_source(tmp_path: Path) -> None:
    opt = tmp_path / "opt"
    with zipfile.ZipFile(build_layer_zip(tmp_path / "p.zip", precompile=True)) as archive:
        archive.extractall(opt)
    # Break the source: an unchecked-hash pyc is loaded as is, so the import still works.
    config_py = opt / "python" / "chaoskit" / "layer" / "config.py"
    config_py.write_text(config_py.read_text() + "\nraise SystemExit('source was compiled')\n")
    done = subprocess.run(
        [sys.executable, "-c", "import chaoskit.layer.handler, chaoskit; print(chaoskit.__file__)"],
        env={"PYTHONPATH": str(opt / "python"), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(opt))


def test_through_the_wrapper_the_config_comes_from_ssm_and_is_acknowledged(
    function_dirs: dict[str, Path], layer_aws: dict[str, str]
) -> None:
    import boto3

    from chaoskit.ledger.store import read_acks

    boto3.session.Session().client("ssm").put_parameter(
        Name="/chaoskit/faults/orders-worker",
        Type="String",
        Value=config({"kind": "exception", "rate": 1, "type": "OrdersDown"}, version="v-ssm"),
    )
    env = {
        "_HANDLER": "src/app.handler",
        envvars.CONFIG_PARAMETER: "/chaoskit/faults/orders-worker",
        envvars.ACK: "1",
        "AWS_ENDPOINT_URL": layer_aws["chaoskit_endpoint_url"],
    }
    pong, failed = _results(_run(function_dirs, env, [{"chaoskit_ping": True}, {}]))
    assert pong["result"]["version"] == "v-ssm"
    assert failed["errorType"] == "OrdersDown"
    (ack,) = read_acks("orders-worker", layer_aws)
    assert ack["version"] == "v-ssm" and ack["qualifier"] == "live"
    assert ack["environment"] == pong["result"]["environment"]


def _lambda_pythons() -> list[str]:
    # Every interpreter on this machine that matches a Lambda Python runtime (3.10+).
    found = {sys.executable}
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(root.glob("3.1[0-9]*/bin/python")):
        found.add(str(candidate))
    return sorted(found)


@pytest.mark.parametrize("python", _lambda_pythons())
def test_the_layer_runs_on_every_lambda_python(function_dirs: dict[str, Path], python: str) -> None:
    event = {"chaoskit_ping": True}
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from chaoskit.layer import inject; "
        "h = inject(lambda e, c: 'ok'); "
        "print(json.dumps([h({}, None), h(json.loads(sys.argv[2]), None)['chaoskit']]))"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        envvars.CONFIG: config(
            {"kind": "latency", "rate": 1, "ms": 1},
            expires_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
        ),
    }
    done = subprocess.run(
        [python, "-c", code, str(function_dirs["opt"] / "python"), json.dumps(event)],
        env=env, capture_output=True, text=True, timeout=60, cwd=function_dirs["root"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == ["ok", "pong"]
    assert json.loads(lines[0])["kind"] == "latency"  # the fault fired: no fail-open warning

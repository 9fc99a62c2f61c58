"""Which runtimes the layer accepts, and what it says about the others."""

import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit.layer import runtimes

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("runtime", runtimes.SUPPORTED_RUNTIMES)
def test_supported_runtimes_are_accepted(runtime: str) -> None:
    assert runtimes.refusal("fn", {"Runtime": runtime, "PackageType": "Zip"}) is None


@pytest.mark.parametrize("runtime", ["nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x"])
def test_nodejs_functions_take_the_layer(runtime: str) -> None:
    assert runtimes.refusal("fn", {"Runtime": runtime, "PackageType": "Zip"}) is None


@pytest.mark.parametrize("runtime", ["python3.14", "nodejs24.x"])
def test_the_newest_runtimes_lambda_offers_take_the_layer(runtime: str) -> None:
    # Public templates already use them (api-sqs-lambda-python runs on python3.14):
    # `chaoskit init` wrote no experiment for such an app.
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    assert runtime in model.shape_for("Runtime").enum
    assert runtimes.refusal("fn", {"Runtime": runtime, "PackageType": "Zip"}) is None


@pytest.mark.parametrize(
    "runtime", ["java21", "dotnet8", "ruby3.3", "provided.al2023", "nodejs16.x", "go1.x"]
)
def test_other_runtimes_are_refused_naming_the_runtime_and_what_still_works(runtime: str) -> None:
    message = runtimes.refusal("fn", {"Runtime": runtime})
    assert message is not None
    assert f"'{runtime}'" in message
    assert "set_reserved_concurrency" in message


def test_a_container_image_is_refused_naming_the_vendored_and_decorator_paths() -> None:
    message = runtimes.refusal("img", {"PackageType": "Image"})
    assert message is not None
    assert "PackageType Image" in message
    assert "chaoskit layer build --vendor" in message and "chaoskit.layer.inject" in message
    assert "--runtime nodejs20.x" in message and "awslambdaric" in message


def test_a_function_without_a_runtime_is_refused() -> None:
    message = runtimes.refusal("fn", {})
    assert message is not None and "'no runtime'" in message


def _python(version: str) -> Path | None:
    root = Path.home() / ".pyenv" / "versions"
    found = sorted(root.glob(f"{version}.*/bin/python")) if root.is_dir() else []
    return found[-1] if found else None


def test_python_3_9_really_cannot_import_the_layer() -> None:
    # Why python3.9 is not in SUPPORTED_RUNTIMES: the refusal must match reality.
    python = _python("3.9")
    if python is None:
        pytest.skip("no local Python 3.9 (pyenv) to check the claim with")
    out = subprocess.run(
        [str(python), "-c", "import chaoskit.layer.handler"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0 and "TypeError" in out.stderr
    assert "python3.9" not in runtimes.SUPPORTED_RUNTIMES
    assert f"python{sys.version_info[0]}.{sys.version_info[1]}" in runtimes.SUPPORTED_RUNTIMES

"""A handler that cannot be loaded fails as it would without the layer: Lambda's own errors.

Lambda's Python runtime names these failures ``Runtime.MalformedHandlerName``,
``Runtime.ImportModuleError``, ``Runtime.UserCodeSyntaxError`` and
``Runtime.HandlerNotFound``, with messages naming the user's module. With the
layer in front, the function must report exactly those, not an
``AttributeError``/``ValueError`` from chaoskit or ``Unable to import module
'chaoskit.layer.handler'``. Each case runs the layer's handler module in a real
interpreter, as the exec wrapper does.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import chaoskit

SCRIPT = textwrap.dedent(
    """
    import json
    import chaoskit.layer.handler as h   # must import even when the user's handler cannot
    try:
        h.handler({}, None)
    except Exception as err:
        print(json.dumps({"type": type(err).__name__, "message": str(err)}))
    else:
        print(json.dumps({"type": None}))
    """
)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "fine.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "broken.py").write_text("def handler(event, context)\n    return 1\n")
    (tmp_path / "initfails.py").write_text("raise KeyError('TABLE_NAME')\n")
    return tmp_path


def _run(app: Path, spec: str) -> tuple[dict[str, str], str]:
    env = {
        **os.environ,
        "CHAOSKIT_ORIGINAL_HANDLER": spec,
        "CHAOSKIT_LEDGER_FLUSH": "inline",
        "PYTHONPATH": os.pathsep.join([str(app), str(Path(chaoskit.__file__).parents[1])]),
    }
    env.pop("CHAOSKIT_CONFIG", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=app, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    *log, last = out.stdout.strip().splitlines()
    return json.loads(last), "\n".join(log)


@pytest.mark.parametrize(
    ("spec", "error_type", "message"),
    [
        ("fine.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'fine'"),
        (
            "nodot",
            "Runtime.MalformedHandlerName",
            "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)",
        ),
        (
            "absent.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'absent': No module named 'absent'",
        ),
        ("broken.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'broken'"),
        ("initfails.handler", "KeyError", "TABLE_NAME"),
    ],
)
def test_load_failures_are_lambdas_own_errors(
    app: Path, spec: str, error_type: str, message: str
) -> None:
    outcome, log = _run(app, spec)
    assert outcome["type"] == error_type
    assert message in outcome["message"]
    assert "chaoskit.layer.handler" not in outcome["message"]
    assert f"[ERROR] {error_type}" in log  # init logs the failure, as Lambda does


def test_a_loadable_handler_still_runs(app: Path) -> None:
    outcome, _ = _run(app, "fine.handler")
    assert outcome == {"type": None}

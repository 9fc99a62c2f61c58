"""The AWS SDK for JavaScript that Lambda's Node.js runtimes give functions, in the sandbox.

A public app (aws-samples/serverless-patterns dynamodb-streams-lambda-eventbridge-sam-node)
bundles its handler with esbuild and leaves ``@aws-sdk/*`` to the runtime, as SAM's
templates do: in the sandbox every invocation failed with ``Cannot find module
'@aws-sdk/util-dynamodb'``. Here npm installs for real, from a registry on 127.0.0.1.
"""

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from chaoskit.sandbox.plugin import node
from tests.support.npm_registry import Registry, npm_registry

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or shutil.which("npm") is None, reason="Node.js and npm are not installed"
)

BEFORE = "2026-01-01T00:00:00.000Z"  # published before node.SDK_DATE
AFTER = "2027-06-01T00:00:00.000Z"  # published after it: not the runtime's release


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Registry:
    monkeypatch.setattr(node, "_FAILED", set())
    with npm_registry() as served:
        monkeypatch.setenv("npm_config_registry", served.url + "/")
        monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
        monkeypatch.setenv("npm_config_fetch_retries", "0")
        for name, said in (("client-fake", "fake"), ("lib-fake", "lib")):
            for version, when in (("3.5.0", BEFORE), ("3.9.0", AFTER)):
                index = f"exports.said = '{said} {version}';\n"
                served.publish(f"@aws-sdk/{name}", version, when, {"index.js": index})
        yield served


def _code(tmp_path: Path, files: dict[str, str]) -> Path:
    code = tmp_path / "fn-1234" / "code"
    for name, text in files.items():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_text(text)
    return code


def _node(code: Path, script: str) -> str:
    out = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script],
        cwd=code, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_sdk_names_a_functions_code_uses_are_read_from_its_javascript(tmp_path: Path) -> None:
    code = _code(
        tmp_path,
        {
            "index.mjs": 'import { S3Client } from "@aws-sdk/client-s3";\n'
            "const d = await import('@aws-sdk/lib-dynamodb');\n",
            "lib/cjs.js": 'const { unmarshall } = require("@aws-sdk/util-dynamodb/dist-cjs/x");\n',
            "bundle.js": 'var e=require("@aws-sdk/client-eventbridge"),s="@smithy/core";\n'
            # The SDK's own message, bundled (aws-samples sqs-lambda-ddb-sam-ts): not code.
            'throw Error(`register the package by calling [require("@aws-sdk/signature-v4-crt");]'
            " or an ESM equivalent such as [import '@aws-sdk/signature-v4a';]`);\n"
            'const m = "@aws-sdk/client-sqs"; x.require("@aws-sdk/client-sns");\n'
            'export{a as b}from"@aws-sdk/client-sfn";import"@aws-sdk/client-lambda";\n',
            "notes.md": 'import "@aws-sdk/client-sqs"\n',
            "node_modules/dep/index.js": 'require("@aws-sdk/client-kinesis")\n',
        },
    )
    assert node.sdk_packages(code) == {
        "@aws-sdk/client-s3",
        "@aws-sdk/lib-dynamodb",
        "@aws-sdk/util-dynamodb",
        "@aws-sdk/client-eventbridge",
        "@aws-sdk/client-sfn",
        "@aws-sdk/client-lambda",
    }


def test_missing_sdk_packages_are_installed_once_as_published_then_and_linked_beside_the_code(
    registry: Registry, tmp_path: Path
) -> None:
    code = _code(
        tmp_path,
        {
            "esm.mjs": 'import { said } from "@aws-sdk/client-fake";\n'
            "export const h = () => said;\n",
            "cjs.js": 'exports.h = () => require("@aws-sdk/lib-fake").said;\n',
        },
    )
    folder = tmp_path / "sdk"
    linked = node.provide_sdk(code, folder=folder)
    assert linked == ["@aws-sdk/client-fake", "@aws-sdk/lib-fake"]
    # The release of the SDK's day, not the newest; both import styles find it.
    script = 'const m = await import("./esm.mjs"), c = (await import("./cjs.js")).default;'
    said = _node(code, script + "console.log(m.h() + ' / ' + c.h())")
    assert said == "fake 3.5.0 / lib 3.5.0"
    fetched = [r for r in registry.requests if r.startswith("/-/tarballs/")]
    assert len(fetched) == 2
    # A second function naming the same packages: linked, nothing fetched again.
    other = _code(tmp_path / "two", {"index.js": 'require("@aws-sdk/client-fake")\n'})
    assert node.provide_sdk(other, folder=folder) == ["@aws-sdk/client-fake"]
    assert [r for r in registry.requests if r.startswith("/-/tarballs/")] == fetched


def test_what_the_function_or_a_layer_brings_is_left_to_them(
    registry: Registry, tmp_path: Path
) -> None:
    code = _code(
        tmp_path,
        {
            "index.js": 'require("@aws-sdk/client-fake"); require("@aws-sdk/lib-fake")\n',
            "node_modules/@aws-sdk/client-fake/package.json": '{"name": "@aws-sdk/client-fake"}',
        },
    )
    opt = tmp_path / "opt"
    (opt / "nodejs" / "node_modules" / "@aws-sdk" / "lib-fake").mkdir(parents=True)
    assert node.provide_sdk(code, opt, folder=tmp_path / "sdk") == []
    assert registry.requests == []
    assert not (code.parent / "node_modules").exists()


def test_a_name_npm_does_not_know_is_logged_and_the_others_still_installed(
    registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = _code(
        tmp_path,
        {
            "index.js": 'require("@aws-sdk/client-fake");\n'
            'try { require("@aws-sdk/no-such-package") } catch {}\n'
        },
    )
    with caplog.at_level(logging.WARNING):
        linked = node.provide_sdk(code, folder=tmp_path / "sdk")
    assert linked == ["@aws-sdk/client-fake"]
    assert "could not install @aws-sdk/no-such-package for Node.js functions" in caplog.text
    # The next function naming it does not wait for npm again.
    asked = list(registry.requests)
    other = _code(tmp_path / "two", {"index.js": 'require("@aws-sdk/no-such-package")\n'})
    assert node.provide_sdk(other, folder=tmp_path / "sdk") == []
    assert registry.requests == asked


def test_a_link_that_cannot_be_made_is_logged_not_raised(
    registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The function is created all the same; it then fails to load the package, as it
    # would on a runtime without it.
    code = _code(tmp_path, {"index.js": 'require("@aws-sdk/client-fake")\n'})
    (code.parent / "node_modules").write_text("a file where the folder goes")
    with caplog.at_level(logging.WARNING):
        assert node.provide_sdk(code, folder=tmp_path / "sdk") == []
    assert "could not give the function in" in caplog.text
    assert "@aws-sdk/client-fake" in caplog.text

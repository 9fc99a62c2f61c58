"""Fixtures shared by every test folder.

``moto_server`` runs a real moto server on 127.0.0.1 (a free port) for the
whole session: tests talk to it over HTTP exactly as they would to AWS.
``aws_env`` points boto3 and chaoskit at it and keeps real credentials out.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest

from chaoskit import aws
from tests.support.net import free_port
from tests.support.summary import SUMMARY

pytest_plugins = ["tests.support.sqs"]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start a moto server on 127.0.0.1 and yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Point boto3 and chaoskit at the moto server; yield a Chaos Toolkit configuration.

    The server's state is reset before each test so tests do not see each other's resources.
    """
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10
    ).read()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    aws.clear_cache()
    yield {
        "chaoskit_target": "localstack",
        "chaoskit_endpoint_url": moto_server,
        "aws_region": "us-east-1",
    }
    aws.clear_cache()


@pytest.fixture(autouse=True)
def _chaostoolkit_logging_restored() -> Iterator[None]:
    """Give each test Chaos Toolkit's logger as it found it (handlers, level, propagation).

    A test that runs a game day or ``chaos run`` in-process sets handlers on the
    ``chaostoolkit`` logger; left there, they change what later tests print.
    """
    import logging

    ctk = logging.getLogger("chaostoolkit")
    saved = (list(ctk.handlers), ctk.level, ctk.propagate)
    yield
    for handler in ctk.handlers[:]:
        if handler not in saved[0]:
            ctk.removeHandler(handler)
    ctk.level, ctk.propagate = saved[1], saved[2]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker, hand this worker's figures to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["chaoskit_summary"] = list(SUMMARY)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook; absent with -p no:xdist
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the pytest-xdist controller, collect a worker's figures as it ends."""
    worker = getattr(node, "workerinput", {}).get("workerid", "worker")
    for line in getattr(node, "workeroutput", {}).get("chaoskit_summary", []):
        SUMMARY.append(f"{line} ({worker})")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures the session measured (each sandbox's RSS after the suite)."""
    for line in SUMMARY:
        terminalreporter.write_line(line)

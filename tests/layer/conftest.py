"""Fixtures of the layer tests: captured log lines, the moto server for the layer's clients."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chaoskit.layer import _aws, log


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the layer's own AWS calls at a closed local port unless a test brings moto.

    Traced sample events make the layer write to the ledger; outside ``layer_aws``
    those writes must fail fast on 127.0.0.1, never reach out to AWS.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    _aws.reset()
    yield
    _aws.reset()


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    """Capture the layer's log lines, decoded."""
    captured: list[str] = []
    previous = log.set_sink(captured.append)

    class Decoded(list[dict[str, Any]]):
        def warnings(self) -> list[dict[str, Any]]:
            return [r for r in self.refresh() if r["chaoskit"] == "warning"]

        def faults(self) -> list[dict[str, Any]]:
            return [r for r in self.refresh() if r["chaoskit"] == "fault"]

        def refresh(self) -> "Decoded":
            self[:] = [json.loads(line) for line in captured]
            return self

    try:
        yield Decoded()
    finally:
        log.set_sink(previous)


@pytest.fixture
def moto_aws(aws_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The moto server, with the layer's own clients pointed at it."""
    _aws.reset()
    yield aws_env
    _aws.reset()


@pytest.fixture
def layer_aws(moto_aws: dict[str, str]) -> dict[str, str]:
    """The moto server, with the ledger table made."""
    from chaoskit.ledger.store import ensure_table

    ensure_table(moto_aws)
    return moto_aws

"""Fixtures of the layer tests: captured log lines, the moto server for the layer's clients."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chaoskit.layer import _aws, log


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
def layer_aws(aws_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The moto server, with the layer's own clients pointed at it and the ledger table made."""
    from chaoskit.ledger.store import ensure_table

    _aws.reset()
    ensure_table(aws_env)
    yield aws_env
    _aws.reset()

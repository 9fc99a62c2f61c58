"""chaoskit's pytest plugin (registered through the ``pytest11`` entry point).

Adds ``--chaoskit-target`` (or ``CHAOSKIT_TARGET``) and the
``chaoskit_configuration`` fixture: the Chaos Toolkit configuration that
points experiments and probes at the chosen target.
"""

import os
from typing import Any

import pytest

from chaoskit import envvars
from chaoskit.aws import TARGETS

__all__ = ["chaoskit_configuration", "pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaoskit")
    group.addoption(
        "--chaoskit-target",
        choices=TARGETS,
        default=None,
        help="target of chaoskit experiments: sandbox (default), localstack or aws",
    )


@pytest.fixture(scope="session")
def chaoskit_configuration(pytestconfig: pytest.Config) -> dict[str, Any]:
    """Return the Chaos Toolkit configuration for the selected target."""
    target = (
        pytestconfig.getoption("--chaoskit-target") or os.environ.get(envvars.TARGET) or "sandbox"
    )
    return {"chaoskit_target": target}

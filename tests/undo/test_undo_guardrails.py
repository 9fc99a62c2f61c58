"""Guardrails that cannot be widened by accident.

- the settings file's allowlist only narrows: an experiment's or a --var's
  ``chaoskit_allow`` can never admit what settings refuse;
- on a target that is not on this machine, no allowlist means no mutation,
  unless the operator says ``chaoskit_allow_unlisted`` in the settings file or
  ``CHAOSKIT_ALLOW_UNLISTED`` (``chaoskit run --allow-unlisted``);
- fault durations have a ceiling, at the action and in the layer.
"""

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit import envvars
from chaoskit.errors import BadInput, SafetyAbort
from chaoskit.faults import inject
from chaoskit.layer.loader import ConfigLoader
from chaoskit.undo import guard


def settings(home: Path, data: dict[str, Any]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.yaml").write_text(yaml.safe_dump(data))


def test_an_experiment_cannot_widen_the_settings_allowlist(undo_home: Path) -> None:
    settings(undo_home, {"chaoskit_allow": {"names": ["orders-*"]}})
    wide = {"chaoskit_allow": {"names": ["*"]}}
    with pytest.raises(SafetyAbort, match="'payments-settle' is outside the allowlist"):
        guard("payments-settle", None, wide)
    guard("orders-worker", None, wide)


def test_an_experiment_can_narrow_the_settings_allowlist(undo_home: Path) -> None:
    settings(undo_home, {"chaoskit_allow": {"names": ["orders-*"]}})
    narrow = {"chaoskit_allow": {"names": ["orders-worker"]}}
    guard("orders-worker", None, narrow)
    with pytest.raises(SafetyAbort, match="'orders-ingest' is outside the allowlist"):
        guard("orders-ingest", None, narrow)


def test_tags_in_the_experiment_cannot_widen_names_in_settings(undo_home: Path) -> None:
    settings(undo_home, {"chaoskit_allow": {"names": ["orders-*"]}})
    by_tag = {"chaoskit_allow": {"tags": {"chaos": "allowed"}}}
    with pytest.raises(SafetyAbort):
        guard("payments", {"chaos": "allowed"}, by_tag)


AWS = {"chaoskit_target": "aws", "aws_region": "eu-west-1"}
REMOTE_LOCALSTACK = {
    "chaoskit_target": "localstack",
    "chaoskit_endpoint_url": "http://10.1.2.3:4566",
}


@pytest.mark.parametrize("config", [AWS, REMOTE_LOCALSTACK])
def test_a_remote_target_without_an_allowlist_refuses(
    undo_home: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv(envvars.ALLOW_UNLISTED, raising=False)
    with pytest.raises(SafetyAbort, match="no allowlist"):
        guard("orders-worker", None, config)


def test_an_experiment_cannot_allow_unlisted_only_the_operator_can(
    undo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv(envvars.ALLOW_UNLISTED, raising=False)
    with pytest.raises(SafetyAbort, match="no allowlist"):
        guard("orders-worker", None, {**AWS, "chaoskit_allow_unlisted": True})
    settings(undo_home, {"chaoskit_allow_unlisted": True})
    guard("orders-worker", None, AWS)


def test_the_environment_flag_allows_unlisted(
    undo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv(envvars.ALLOW_UNLISTED, "1")
    guard("orders-worker", None, AWS)


@pytest.mark.parametrize(
    "config",
    [
        {"chaoskit_target": "sandbox"},
        {"chaoskit_target": "localstack", "chaoskit_endpoint_url": "http://localhost:4566"},
        {"chaoskit_target": "aws", "chaoskit_endpoint_url": "http://127.0.0.1:5000"},
    ],
)
def test_local_targets_need_no_allowlist(undo_home: Path, config: dict[str, Any]) -> None:
    guard("anything", None, config)


@pytest.mark.parametrize("duration", [1e12, 1e308, math.inf, math.nan, "nan", "inf", -1, 0])
def test_an_absurd_duration_is_refused_at_the_action(undo_home: Path, duration: Any) -> None:
    with pytest.raises(BadInput, match="duration"):
        inject.inject_latency("orders-worker", ms=10, duration=duration, configuration={})


def test_the_duration_ceiling_is_configurable_and_only_narrows(undo_home: Path) -> None:
    with pytest.raises(BadInput, match="ceiling"):
        inject.inject_latency(
            "orders-worker", ms=10, duration=600, configuration={"chaoskit_max_fault_duration": 60}
        )
    settings(undo_home, {"chaoskit_max_fault_duration": 60})
    with pytest.raises(BadInput, match="ceiling"):
        inject.inject_latency(
            "orders-worker",
            ms=10,
            duration=600,
            configuration={"chaoskit_max_fault_duration": 100000},
        )


@pytest.mark.parametrize("seconds", [1e12, 1e308])
def test_the_layer_ignores_a_config_that_expires_beyond_the_ceiling(seconds: float) -> None:
    doc = {
        "version": "v1",
        "expires_at": time.time() + seconds,
        "faults": [{"kind": "latency", "rate": 1.0, "ms": 10}],
    }
    loader = ConfigLoader(environ={envvars.CONFIG: json.dumps(doc)})
    assert loader.load() is None


def test_the_layer_keeps_a_config_within_the_ceiling() -> None:
    doc = {
        "version": "v1",
        "expires_at": time.time() + 900,
        "faults": [{"kind": "latency", "rate": 1.0, "ms": 10}],
    }
    loader = ConfigLoader(environ={envvars.CONFIG: json.dumps(doc)})
    found = loader.load()
    assert found is not None and len(found.faults) == 1
    low = {envvars.CONFIG: json.dumps(doc), envvars.MAX_FAULT_SECONDS: "60"}
    assert ConfigLoader(environ=low).load() is None

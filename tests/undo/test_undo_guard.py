"""The allowlist: names (patterns) or tags, from the experiment or the settings file."""

from pathlib import Path

import pytest

from chaoskit.errors import BadInput, SafetyAbort
from chaoskit.undo import guard
from chaoskit.undo.guard import allowlist


def test_no_allowlist_allows_everything(undo_home: Path) -> None:
    guard("anything", None, {})
    assert allowlist({}) is None


@pytest.mark.parametrize(
    ("name", "tags", "allowed"),
    [
        ("orders-worker", None, True),
        ("orders-ingest", {}, True),
        ("payments", {"chaos": "allowed"}, True),
        ("payments", {"chaos": "allowed", "team": "x"}, True),
        ("payments", {"chaos": "no"}, False),
        ("payments", {"team": "x"}, False),
        ("ORDERS-worker", None, False),  # patterns are case-sensitive
    ],
)
def test_names_or_tags(undo_home: Path, name: str, tags: dict | None, allowed: bool) -> None:
    config = {"chaoskit_allow": {"names": ["orders-*"], "tags": {"chaos": "allowed"}}}
    if allowed:
        guard(name, tags, config)
    else:
        with pytest.raises(SafetyAbort, match=f"'{name}' is outside the allowlist"):
            guard(name, tags, config)


def test_every_tag_pair_must_match(undo_home: Path) -> None:
    config = {"chaoskit_allow": {"tags": {"chaos": "allowed", "env": "staging"}}}
    guard("x", {"chaos": "allowed", "env": "staging"}, config)
    with pytest.raises(SafetyAbort):
        guard("x", {"chaos": "allowed"}, config)


def test_the_settings_file_applies_and_the_experiment_cannot_widen_it(undo_home: Path) -> None:
    undo_home.mkdir(parents=True)
    (undo_home / "settings.yaml").write_text("chaoskit_allow:\n  names: [staging-*]\n")
    guard("staging-worker", None, {})
    with pytest.raises(SafetyAbort, match=r"names \['staging-\*'\]"):
        guard("prod-worker", None, {})
    with pytest.raises(SafetyAbort, match=r"names \['staging-\*'\]"):
        guard("prod-worker", None, {"chaoskit_allow": {"names": ["prod-*"]}})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("orders-*", "expected a mapping"),
        ({"name": ["x"]}, "invalid chaoskit_allow key(s) name"),
        ({"names": {"x": 1}}, "'names' must be a list"),
    ],
)
def test_invalid_allowlists_are_bad_input(undo_home: Path, value: object, message: str) -> None:
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        guard("x", None, {"chaoskit_allow": value})


def test_an_invalid_settings_file_is_bad_input(undo_home: Path) -> None:
    undo_home.mkdir(parents=True)
    (undo_home / "settings.yaml").write_text("- just\n- a list\n")
    with pytest.raises(BadInput, match="must hold a mapping"):
        guard("x", None, {})

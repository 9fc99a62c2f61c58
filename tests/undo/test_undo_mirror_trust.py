"""A mirrored journal entry is data, never code: the planted-entry attack is refused.

An attacker who can write SSM parameters plants ``/chaoskit/journal/...``
entries. ``chaoskit rollback --from-target --all`` must not import the module
an entry names (``restorer: "this:s"``), nor set an exec wrapper on a function
outside the allowlist, nor trust any entry it cannot authenticate.
"""

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit import aws, envvars
from chaoskit.faults.kill_switch import set_reserved_concurrency
from chaoskit.functions import config as lc
from chaoskit.undo import mirror, pending_runs, rollback_run
from chaoskit.undo.registry import check_snapshot
from chaoskit.undo.target import resolved_target
from tests.support.cli import exit_code as run


def make_function(cfg: dict[str, Any], name: str) -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    iam = aws.client("iam", cfg)
    try:
        role = iam.get_role(RoleName="trust-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="trust-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    aws.client("lambda", cfg).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
    )


VICTIM = "payments-settle"


@pytest.fixture
def cfg(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    home = tmp_path / "home"
    monkeypatch.setenv(envvars.HOME, str(home))
    home.mkdir()
    (home / "settings.yaml").write_text(yaml.safe_dump({"chaoskit_allow": {"names": ["orders-*"]}}))
    make_function(aws_env, VICTIM)
    make_function(aws_env, "orders-worker")
    return {**aws_env, "chaoskit_run_id": "run-t", "chaoskit_remote_lock": False}


def _plant(cfg: dict[str, Any], name: str, record: dict[str, Any]) -> None:
    aws.client("ssm", cfg).put_parameter(
        Name=name, Value=json.dumps(record), Type="String", Overwrite=True
    )


def _evil_layer_entry(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "e" * 16,
        "run_id": "evil",
        "action": "enable_chaoskit_layer",
        "resource": VICTIM,
        "restorer": "chaoskit.faults.layer:restore_layer_snapshot",
        "snapshot": {
            "function_name": VICTIM,
            "added_layer": None,
            "replaced_layer": None,
            "environment": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/evil-wrapper"},
            "environment_present": True,
            "layers": [],
        },
        "target": resolved_target(cfg),
        "lock": VICTIM,
        "recorded_at": 1.0,
    }


def test_planted_entries_are_refused_and_nothing_is_imported_or_changed(
    cfg: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sys.modules.pop("this", None)
    code_entry = {**_evil_layer_entry(cfg), "id": "c" * 16, "restorer": "this:s"}
    _plant(cfg, mirror.parameter_name("evil", "c" * 16), code_entry)
    _plant(cfg, mirror.parameter_name("evil", "e" * 16), _evil_layer_entry(cfg))
    where = ["--target", "localstack", "--endpoint-url", cfg["chaoskit_endpoint_url"]]
    code = run(["rollback", "--from-target", "--all", *where])
    err = capsys.readouterr().err
    assert "this" not in sys.modules
    env = lc.environment_of(lc.get_configuration(VICTIM, cfg)) or {}
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in env
    assert pending_runs() == []  # nothing was copied into the local journal
    assert code == 3  # refused entries are a safety abort, said loudly
    assert "refused 2 change(s)" in err


def test_a_signed_entry_outside_the_allowlist_is_refused(cfg: dict[str, Any]) -> None:
    entry = _evil_layer_entry(cfg)
    entry["sig"] = mirror.sign(entry)  # even with the key, the allowlist still holds
    _plant(cfg, mirror.parameter_name("evil", entry["id"]), entry)
    copied, refused = mirror.pull_checked(cfg)
    assert copied == {} and len(refused) == 1
    assert "outside the allowlist" in refused[0]


def test_a_genuine_mirrored_change_is_authenticated_and_restored(
    cfg: dict[str, Any],
) -> None:
    lam = aws.client("lambda", cfg)
    lam.put_function_concurrency(FunctionName="orders-worker", ReservedConcurrentExecutions=4)
    set_reserved_concurrency(
        ["orders-worker"], concurrency=0, configuration={**cfg, "chaoskit_journal_mirror": True}
    )
    for path in (Path(cfg_home()) / "journal").glob("*.jsonl"):
        path.unlink()  # the local journal is lost; the key under the home is not
    copied, refused = mirror.pull_checked(cfg)
    assert refused == [] and copied == {"run-t": 1}
    assert [r["status"] for r in rollback_run("run-t")] == ["restored"]
    found = lam.get_function_concurrency(FunctionName="orders-worker")
    assert found["ReservedConcurrentExecutions"] == 4


def test_a_tampered_signed_entry_is_refused(cfg: dict[str, Any]) -> None:
    set_reserved_concurrency(
        ["orders-worker"], concurrency=0, configuration={**cfg, "chaoskit_journal_mirror": True}
    )
    ssm = aws.client("ssm", cfg)
    [param] = ssm.get_parameters_by_path(Path=mirror.PREFIX, Recursive=True)["Parameters"]
    record = json.loads(param["Value"])
    record["snapshot"]["previous"] = 1000
    _plant(cfg, param["Name"], record)
    for path in (Path(cfg_home()) / "journal").glob("*.jsonl"):
        path.unlink()
    copied, refused = mirror.pull_checked(cfg)
    assert copied == {} and "signature" in refused[0]


def test_the_key_is_private_to_its_owner(cfg: dict[str, Any]) -> None:
    mirror.sign({"id": "x"})
    key = mirror.key_path()
    assert key.stat().st_mode & 0o777 == 0o600


def test_the_schema_refuses_foreign_variables_and_unknown_keys() -> None:
    good = {
        "function_name": "f",
        "added_layer": None,
        "replaced_layer": None,
        "environment": {"AWS_LAMBDA_EXEC_WRAPPER": None, "CHAOSKIT_ACK": None},
        "environment_present": True,
        "layers": [],
    }
    spec = "chaoskit.faults.layer:restore_layer_snapshot"
    check_snapshot(spec, good)
    from chaoskit.errors import BadInput

    with pytest.raises(BadInput, match="PATH"):
        check_snapshot(spec, {**good, "environment": {"PATH": "/evil"}})
    with pytest.raises(BadInput, match="unknown"):
        check_snapshot(spec, {**good, "extra": 1})
    with pytest.raises(BadInput, match="not one of chaoskit"):
        check_snapshot("this:s", good)


def cfg_home() -> str:
    import os

    return os.environ[envvars.HOME]


def test_a_crash_between_taking_the_lock_and_journaling_leaves_no_orphan_lock(
    cfg: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaoskit.undo import store

    config = {**cfg, "chaoskit_remote_lock": True, "chaoskit_journal_mirror": True}
    real = store.append
    calls = {"n": 0}

    def dies_after_the_first_append(run_id: str, event: dict[str, Any]) -> None:
        real(run_id, event)
        calls["n"] += 1
        raise SystemExit("killed")  # the process dies right after the journal write

    monkeypatch.setattr(store, "append", dies_after_the_first_append)
    with pytest.raises(SystemExit):
        set_reserved_concurrency(["orders-worker"], concurrency=0, configuration=config)
    monkeypatch.setattr(store, "append", real)
    assert run(["rollback", "--all"]) == 0
    ssm = aws.client("ssm", cfg)
    left = ssm.get_parameters_by_path(Path="/chaoskit/", Recursive=True)["Parameters"]
    assert [p["Name"] for p in left] == []
    # A new run may take the function at once.
    set_reserved_concurrency(
        ["orders-worker"], concurrency=0, configuration={**config, "chaoskit_run_id": "run-2"}
    )


def test_a_crash_before_the_journal_write_leaves_no_lock_or_mirror_copy(
    cfg: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaoskit.undo import store

    config = {**cfg, "chaoskit_remote_lock": True, "chaoskit_journal_mirror": True}

    def dies(run_id: str, event: dict[str, Any]) -> None:
        raise SystemExit("killed")  # dies before anything is journaled

    real = store.append
    monkeypatch.setattr(store, "append", dies)
    with pytest.raises(SystemExit):
        set_reserved_concurrency(["orders-worker"], concurrency=0, configuration=config)
    monkeypatch.setattr(store, "append", real)
    left = aws.client("ssm", cfg).get_parameters_by_path(Path="/chaoskit/", Recursive=True)
    assert [p["Name"] for p in left["Parameters"]] == []

"""Layer actions against the moto server: merge, exact restore, faults, acknowledgements.

The issue's exact-restore test: a function with layers [L1, L2], variables
{A, B}, an exec wrapper or none, and reserved concurrency 7 or none is, after
enable, inject, the kill switch and rollback, exactly as before; every action and every rollback run
twice does no harm.
"""

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws, envvars
from chaoskit.errors import BadInput, SafetyAbort
from chaoskit.faults import inject, layer
from chaoskit.faults.kill_switch import set_reserved_concurrency
from chaoskit.functions import config as lc
from chaoskit.ledger import store
from chaoskit.undo import changes, rollback_run
from tests.support.lambda_context import FakeContext

FUNCTION = "orders-worker"
#: Keys moto changes on every update or that are not part of what we restore.
VOLATILE = {"LastModified", "RevisionId", "CodeSha256", "LastUpdateStatus"}


def _zip(
    name: str = "app.py", text: str = "def handler(event, context):\n    return event\n"
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, text)
    return buf.getvalue()


def _publish(cfg: dict[str, Any], name: str) -> str:
    out = aws.client("lambda", cfg).publish_layer_version(
        LayerName=name, Content={"ZipFile": _zip(f"python/{name}.py", "X = 1\n")}
    )
    return str(out["LayerVersionArn"])


@pytest.fixture
def cfg(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(envvars.HOME, str(tmp_path / "home"))
    return {**aws_env, "chaoskit_run_id": "run-layer-1"}


def _make_function(
    cfg: dict[str, Any],
    layers: list[str] | None = None,
    variables: dict[str, str] | None = None,
    concurrency: int | None = 7,
    tags: dict[str, str] | None = None,
) -> None:
    role = aws.client("iam", cfg).create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")
    kwargs: dict[str, Any] = {}
    if variables is not None:
        kwargs["Environment"] = {"Variables": variables}
    lam = aws.client("lambda", cfg)
    lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Layers=layers or [],
        Tags=tags or {},
        **kwargs,
    )
    if concurrency is not None:
        lam.put_function_concurrency(
            FunctionName=FUNCTION, ReservedConcurrentExecutions=concurrency
        )


def _state(cfg: dict[str, Any]) -> dict[str, Any]:
    lam = aws.client("lambda", cfg)
    config = {k: v for k, v in lc.get_configuration(FUNCTION, cfg).items() if k not in VOLATILE}
    concurrency = lam.get_function_concurrency(FunctionName=FUNCTION)
    config["__concurrency"] = concurrency.get("ReservedConcurrentExecutions")
    return config


def _count_updates(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    aws.client("lambda", cfg).meta.events.register(
        "before-call.lambda.UpdateFunctionConfiguration",
        lambda params, **kwargs: sent.append(params),
    )
    return sent


def _parameter(cfg: dict[str, Any]) -> str | None:
    return lc.read_fault_parameter(f"/chaoskit/faults/{FUNCTION}", cfg)


@pytest.mark.parametrize("concurrency", [7, None])
@pytest.mark.parametrize("wrapper", [None, "/opt/otel-instrument"])
def test_enable_inject_and_rollback_restore_the_function_exactly(
    cfg: dict[str, Any], wrapper: str | None, concurrency: int | None
) -> None:
    l1, l2, ck = _publish(cfg, "L1"), _publish(cfg, "L2"), _publish(cfg, "chaoskit")
    variables = {"A": "1", "B": "2"}
    if wrapper:
        variables["AWS_LAMBDA_EXEC_WRAPPER"] = wrapper
    _make_function(cfg, layers=[l1, l2], variables=variables, concurrency=concurrency)
    before = _state(cfg)
    assert before["__concurrency"] == concurrency

    out = layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=cfg)
    assert out["layers"] == [l1, l2, ck]
    env = lc.environment_of(lc.get_configuration(FUNCTION, cfg)) or {}
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/chaoskit-wrapper"
    assert env["CHAOSKIT_CONFIG_PARAMETER"] == f"/chaoskit/faults/{FUNCTION}"
    assert env["CHAOSKIT_ACK"] == "1"
    assert env["CHAOSKIT_CONFIG_TTL"] == "1"  # a local target
    assert env["CHAOSKIT_LEDGER_TABLE"] == "chaoskit-ledger"
    assert env["A"] == "1" and env["B"] == "2"
    assert env.get("CHAOSKIT_ORIGINAL_EXEC_WRAPPER") == wrapper

    injected = inject.inject_latency(FUNCTION, ms=800, configuration=cfg)
    assert json.loads(_parameter(cfg) or "{}")["version"] == injected["version"]
    set_reserved_concurrency([FUNCTION], concurrency=0, configuration=cfg)  # C1's kill switch
    assert _state(cfg)["__concurrency"] == 0

    results = rollback_run("run-layer-1", cfg)
    assert [r["status"] for r in results] == ["restored"] * 3
    assert _state(cfg) == before
    assert _parameter(cfg) is None

    sent = _count_updates(cfg)
    rollback_run("run-layer-1", cfg)  # twice: nothing left to do
    layer.disable_chaoskit_layer(FUNCTION, configuration=cfg)
    assert _state(cfg) == before
    assert sent == []


def test_a_function_without_environment_gets_no_environment_back(cfg: dict[str, Any]) -> None:
    ck = _publish(cfg, "chaoskit")
    _make_function(cfg, variables=None, concurrency=None)
    before = _state(cfg)
    assert lc.environment_of(lc.get_configuration(FUNCTION, cfg)) is None

    layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=cfg)
    rollback_run("run-layer-1", cfg)
    assert lc.environment_of(lc.get_configuration(FUNCTION, cfg)) is None
    assert _state(cfg) == before
    assert before["__concurrency"] is None


def test_enable_twice_keeps_one_copy_and_disable_restores_through_the_journal(
    cfg: dict[str, Any],
) -> None:
    l1, ck = _publish(cfg, "L1"), _publish(cfg, "chaoskit")
    _make_function(cfg, layers=[l1], variables={"A": "1"})
    before = _state(cfg)

    layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=cfg)
    sent = _count_updates(cfg)
    again = layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=cfg)
    assert again["layers"] == [l1, ck]
    assert sent == []  # the second enable found nothing to change

    out = layer.disable_chaoskit_layer(FUNCTION, configuration=cfg)
    assert out == {"function_name": FUNCTION, "restored": True, "layers": [l1]}
    assert _state(cfg) == before
    assert rollback_run("run-layer-1", cfg) == []  # the journal knows it is restored
    assert layer.disable_chaoskit_layer(FUNCTION, configuration=cfg)["restored"] is False
    assert len(sent) == 1


def test_disable_without_the_journal_uses_the_record_on_the_function(
    cfg: dict[str, Any],
) -> None:
    l1, ck = _publish(cfg, "L1"), _publish(cfg, "chaoskit")
    _make_function(cfg, layers=[l1], variables={"A": "1", "AWS_LAMBDA_EXEC_WRAPPER": "/opt/w"})
    before = _state(cfg)
    layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=cfg)

    # A later run, by hand: this run's journal knows nothing of the enable.
    later = {**cfg, "chaoskit_run_id": "run-layer-2"}
    out = layer.disable_chaoskit_layer(FUNCTION, configuration=later)
    assert out == {"function_name": FUNCTION, "restored": True, "layers": [l1]}
    assert _state(cfg) == before
    sent = _count_updates(cfg)
    rollback_run("run-layer-1", cfg)  # the original run's restore is now a no-op
    assert sent == []
    assert _state(cfg) == before


def test_an_older_chaoskit_layer_version_is_replaced_in_place_and_put_back(
    cfg: dict[str, Any],
) -> None:
    l1, ck1, ck2 = _publish(cfg, "L1"), _publish(cfg, "chaoskit"), _publish(cfg, "chaoskit")
    assert ck1 != ck2
    _make_function(cfg, layers=[ck1, l1], variables={"A": "1"})
    before = _state(cfg)
    out = layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck2, configuration=cfg)
    assert out["layers"] == [ck2, l1]
    rollback_run("run-layer-1", cfg)
    assert _state(cfg) == before


def test_refuse_mode_leaves_a_function_with_its_own_wrapper_untouched(
    cfg: dict[str, Any],
) -> None:
    ck = _publish(cfg, "chaoskit")
    _make_function(cfg, variables={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"})
    before = _state(cfg)
    with pytest.raises(layer.LayerRefused, match=r"'/opt/otel-instrument'.*chain"):
        layer.enable_chaoskit_layer(
            FUNCTION, layer_arn=ck, on_existing_wrapper="refuse", configuration=cfg
        )
    assert _state(cfg) == before


def test_a_function_with_five_layers_is_refused(cfg: dict[str, Any]) -> None:
    layers = [_publish(cfg, f"L{i}") for i in range(5)]
    ck = _publish(cfg, "chaoskit")
    _make_function(cfg, layers=layers, variables={"A": "1"})
    with pytest.raises(layer.LayerRefused, match="5 layers"):
        layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=cfg)


def test_a_function_outside_the_allowlist_is_refused_before_any_change(
    cfg: dict[str, Any],
) -> None:
    ck = _publish(cfg, "chaoskit")
    _make_function(cfg, variables={"A": "1"}, tags={"team": "orders"})
    before = _state(cfg)
    allow = {**cfg, "chaoskit_allow": {"names": ["payments-*"], "tags": {"chaos": "ok"}}}
    with pytest.raises(SafetyAbort):
        layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=allow)
    with pytest.raises(SafetyAbort):
        inject.inject_latency(FUNCTION, ms=10, configuration=allow)
    assert _state(cfg) == before
    assert _parameter(cfg) is None


def test_dry_run_changes_nothing(cfg: dict[str, Any]) -> None:
    ck = _publish(cfg, "chaoskit")
    _make_function(cfg, variables={"A": "1"})
    before = _state(cfg)
    dry = {**cfg, "chaoskit_dry_run": True}
    assert layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=dry)["dry_run"]
    assert inject.inject_exception(FUNCTION, configuration=dry)["dry_run"]
    assert _state(cfg) == before
    assert _parameter(cfg) is None


def test_injected_faults_merge_by_kind_and_expire(cfg: dict[str, Any]) -> None:
    _make_function(cfg, variables={"A": "1"})
    now = time.time()
    first = inject.inject_latency(FUNCTION, ms=100, duration=60, configuration=cfg)
    inject.inject_latency(FUNCTION, min_ms=10, max_ms=20, duration=60, configuration=cfg)
    last = inject.inject_sdk_throttle(
        FUNCTION, service="dynamodb", operations=["PutItem"], rate=0.5, configuration=cfg
    )
    doc = json.loads(_parameter(cfg) or "{}")
    assert doc["version"] == last["version"] != first["version"]
    assert doc["run_id"] == "run-layer-1"
    assert now + 890 < doc["expires_at"] < time.time() + 901
    assert doc["faults"] == [
        {"kind": "latency", "rate": 1.0, "min_ms": 10, "max_ms": 20},
        {
            "kind": "sdk_throttle",
            "rate": 0.5,
            "service": "dynamodb",
            "operations": ["PutItem"],
            "latency_ms": 0,
        },
    ]
    replaced = inject.inject_status(FUNCTION, status_code=429, replace=True, configuration=cfg)
    assert [f["kind"] for f in replaced["faults"]] == ["status"]


@pytest.mark.parametrize("how", ["rollback", "restore_fault_config"])
def test_rollback_puts_back_a_fault_config_that_existed_before(
    cfg: dict[str, Any], how: str
) -> None:
    _make_function(cfg, variables={"A": "1"})
    old = json.dumps({"version": "v-old", "expires_at": 1.0, "faults": []})
    lc.write_fault_parameter(f"/chaoskit/faults/{FUNCTION}", old, cfg)
    inject.inject_exception(FUNCTION, rate=0.3, configuration=cfg)
    inject.inject_timeout(FUNCTION, configuration=cfg)
    inject.inject_exception(FUNCTION, rate=0.5, configuration=cfg)
    for _ in range(2):  # twice: harmless
        if how == "rollback":
            rollback_run("run-layer-1", cfg)
        else:
            inject.restore_fault_config(FUNCTION, configuration=cfg)
        assert _parameter(cfg) == old
    assert rollback_run("run-layer-1", cfg) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"ms": 10, "rate": 2.0}, "rate"), ({"ms": 10, "match": {"source": "smtp"}}, "source")],
)
def test_an_invalid_fault_is_refused_before_anything_is_written(
    cfg: dict[str, Any], kwargs: dict[str, Any], field: str
) -> None:
    _make_function(cfg, variables={"A": "1"})
    with pytest.raises(inject.FaultRefused, match=field):
        inject.inject_latency(FUNCTION, configuration=cfg, **kwargs)
    assert _parameter(cfg) is None


def test_http_fault_and_clear(cfg: dict[str, Any]) -> None:
    _make_function(cfg, variables={"A": "1"})
    assert inject.clear_faults(FUNCTION, configuration=cfg)["cleared"] is False
    inject.inject_http_fault(
        FUNCTION, hosts=["payments.example.com"], status=429, retry_after=1, configuration=cfg
    )
    out = inject.clear_faults(FUNCTION, configuration=cfg)
    doc = json.loads(_parameter(cfg) or "{}")
    assert out["cleared"] is True
    assert doc["faults"] == [] and doc["version"] == out["version"]
    # The journal names the action as experiments call it; clearing is not journaled.
    assert [c["action"] for c in changes("run-layer-1")] == ["inject_http_fault"]


def _ack(cfg: dict[str, Any], version: str, environment: str) -> None:
    # What the layer writes after applying a version (contract 2).
    table = store.ensure_table(cfg)
    aws.client("dynamodb", cfg).put_item(
        TableName=table,
        Item={
            "run_id": {"S": f"ack#{FUNCTION}"},
            "sk": {"S": environment},
            "version": {"S": version},
            "at": {"N": str(time.time())},
            "qualifier": {"S": "$LATEST"},
        },
    )


class _FakeTime:
    """A clock that moves only when the wait sleeps; what it slept is kept in order."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_wait_for_fault_live_returns_once_the_written_version_is_acknowledged(
    cfg: dict[str, Any],
) -> None:
    _make_function(cfg, variables={"A": "1", envvars.CONFIG_TTL: "0.2"})
    injected = inject.inject_latency(FUNCTION, ms=5, configuration=cfg)
    _ack(cfg, "v-older", "env-1")
    _ack(cfg, injected["version"], "env-2")
    out = layer.wait_for_fault_live(FUNCTION, timeout=5, configuration=cfg)
    assert out["live"] is True
    assert out["version"] == injected["version"]
    assert out["environments"] == 1


def test_wait_for_fault_live_fails_after_the_timeout_naming_what_it_saw(
    cfg: dict[str, Any],
) -> None:
    _make_function(cfg, variables={"A": "1"})
    _ack(cfg, "v-older", "env-1")
    t = _FakeTime()
    with pytest.raises(layer.FaultNotLive, match=r"'v-new'.*v-older"):
        layer._wait_live(FUNCTION, "v-new", 3.0, False, cfg, sleep=t.sleep, clock=t.clock)
    assert t.slept[:3] == [0.25, 0.5, 1.0] and sum(t.slept) >= 3.0


def test_wait_for_fault_live_without_a_fault_config_is_refused(cfg: dict[str, Any]) -> None:
    _make_function(cfg, variables={"A": "1"})
    with pytest.raises(inject.FaultRefused, match="inject a fault first"):
        layer.wait_for_fault_live(FUNCTION, timeout=1, configuration=cfg)


def test_the_layer_version_is_published_once_per_content(
    cfg: dict[str, Any], tmp_path: Path
) -> None:
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    first.write_bytes(_zip("python/x.py", "A = 1\n"))
    second.write_bytes(_zip("python/x.py", "A = 2\n"))
    arn = lc.ensure_layer_version(first, "chaoskit", cfg)
    assert lc.ensure_layer_version(first, "chaoskit", cfg) == arn
    other = lc.ensure_layer_version(second, "chaoskit", cfg)
    assert other != arn and other.endswith(":2")


def test_enable_creates_the_ledger_table_the_layer_acknowledges_into(cfg: dict[str, Any]) -> None:
    ck = _publish(cfg, "chaoskit")
    _make_function(cfg, variables={"A": "1"})
    t = _FakeTime()
    # Before: no table at all, which reads as "nothing acknowledged yet".
    with pytest.raises(layer.FaultNotLive, match="acknowledged versions: none"):
        layer._wait_live(FUNCTION, "v-1", 1.0, False, cfg, sleep=t.sleep, clock=t.clock)
    layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=cfg)
    tables = aws.client("dynamodb", cfg).list_tables()["TableNames"]
    assert "chaoskit-ledger" in tables


def test_a_function_on_a_runtime_the_layer_does_not_wrap_is_refused(cfg: dict[str, Any]) -> None:
    # Node.js is supported now (SUPPORTED_RUNTIMES); Ruby is not.
    ck = _publish(cfg, "chaoskit")
    role = aws.client("iam", cfg).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    aws.client("lambda", cfg).create_function(
        FunctionName="ruby-fn",
        Runtime="ruby3.3",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip("app.rb", "def handler(event:, context:) = 1\n")},
    )
    with pytest.raises(layer.LayerRefused, match=r"'ruby3\.3'.*not ruby"):
        layer.enable_chaoskit_layer("ruby-fn", layer_arn=ck, configuration=cfg)
    assert lc.layer_arns(lc.get_configuration("ruby-fn", cfg)) == []


def test_without_a_layer_arn_the_chaoskit_layer_is_built_published_and_reused(
    cfg: dict[str, Any],
) -> None:
    _make_function(cfg, variables={"A": "1"})
    first = layer.enable_chaoskit_layer(FUNCTION, configuration=cfg)
    assert first["layer_arn"].endswith(":layer:chaoskit:1")
    layer.disable_chaoskit_layer(FUNCTION, configuration=cfg)
    again = layer.enable_chaoskit_layer(FUNCTION, configuration=cfg)
    assert again["layer_arn"] == first["layer_arn"]  # same content, same version
    versions = aws.client("lambda", cfg).list_layer_versions(LayerName="chaoskit")
    assert len(versions["LayerVersions"]) == 1
    assert "sha256:" in versions["LayerVersions"][0]["Description"]


def test_the_real_layer_acknowledges_what_inject_wrote_and_the_wait_sees_it(
    cfg: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The function's side in-process: its variables as enable set them, chaoskit's
    # handler in front of the function's own, a ping as the first invocation.
    from chaoskit.layer import handler as chaoskit_handler

    ck = _publish(cfg, "chaoskit")
    _make_function(cfg, variables={"A": "1"})
    layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=cfg)
    written = inject.inject_latency(FUNCTION, ms=1, configuration=cfg)

    (tmp_path / "ck_app.py").write_text("def handler(event, context):\n    return 'ran'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name, value in (lc.environment_of(lc.get_configuration(FUNCTION, cfg)) or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.setenv(envvars.ORIGINAL_HANDLER, "ck_app.handler")
    chaoskit_handler.reset()
    try:
        assert (
            chaoskit_handler.handler({"chaoskit_ping": True}, FakeContext(function_name=FUNCTION))
            != "ran"
        )
    finally:
        chaoskit_handler.reset()

    live = layer.wait_for_fault_live(FUNCTION, timeout=5, configuration=cfg)
    assert live["live"] is True and live["version"] == written["version"]


def test_a_version_number_warns_that_only_latest_changes(
    cfg: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    ck = _publish(cfg, "chaoskit")
    _make_function(cfg, variables={"A": "1", "CHAOSKIT_DISABLED": "1"})
    with caplog.at_level("WARNING", logger="chaostoolkit.chaoskit"):
        out = layer.enable_chaoskit_layer(f"{FUNCTION}:3", layer_arn=ck, configuration=cfg)
    assert out["function_name"] == FUNCTION and out["aliases"] == {}
    warnings = [r.getMessage() for r in caplog.records if r.name == "chaostoolkit.chaoskit"]
    assert any("only $LATEST" in w and "version 3" in w for w in warnings)
    assert any("CHAOSKIT_DISABLED" in w for w in warnings)


def test_an_alias_that_does_not_exist_is_refused_before_any_change(cfg: dict[str, Any]) -> None:
    ck = _publish(cfg, "chaoskit")
    _make_function(cfg, variables={"A": "1"})
    before = aws.client("lambda", cfg).get_function_configuration(FunctionName=FUNCTION)

    with pytest.raises(BadInput, match="alias 'live' of function 'orders-worker' not found"):
        layer.enable_chaoskit_layer(f"{FUNCTION}:live", layer_arn=ck, configuration=cfg)

    after = aws.client("lambda", cfg).get_function_configuration(FunctionName=FUNCTION)
    assert after.get("Layers") == before.get("Layers")
    assert after["Environment"] == before["Environment"]


def test_numbers_given_as_strings_by_experiment_variables_are_accepted(
    cfg: dict[str, Any],
) -> None:
    _make_function(cfg, variables={"A": "1"})
    out = inject.inject_latency(
        FUNCTION,
        ms="250",  # type: ignore[arg-type]
        rate="0.5",  # type: ignore[arg-type]
        duration="60",  # type: ignore[arg-type]
        configuration=cfg,
    )
    assert out["faults"] == [{"kind": "latency", "rate": 0.5, "ms": 250}]
    assert out["expires_at"] < time.time() + 61
    with pytest.raises(inject.FaultRefused, match="duration 'soon'"):
        inject.inject_latency(FUNCTION, ms=1, duration="soon", configuration=cfg)  # type: ignore[arg-type]


def test_restore_keeps_what_someone_else_changed_during_the_run(cfg: dict[str, Any]) -> None:
    l1, l3, ck = _publish(cfg, "L1"), _publish(cfg, "L3"), _publish(cfg, "chaoskit")
    _make_function(cfg, layers=[l1], variables={"A": "1"})
    layer.enable_chaoskit_layer(FUNCTION, layer_arn=ck, configuration=cfg)

    # A deploy lands mid-run: a new variable and a new layer.
    def deploy(config: dict[str, Any]) -> lc.Plan:
        return {
            "Layers": [*lc.layer_arns(config), l3],
            "Variables": {**(lc.environment_of(config) or {}), "C": "3"},
        }

    lc.update_configuration(FUNCTION, deploy, cfg)
    rollback_run("run-layer-1", cfg)
    after = lc.get_configuration(FUNCTION, cfg)
    assert lc.layer_arns(after) == [l1, l3]
    assert lc.environment_of(after) == {"A": "1", "C": "3"}


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [
        ("python3.9", r"'python3\.9'.*supports python3\.10.*set the function's Runtime"),
        ("python3.8", r"'python3\.8'.*python3\.10 or newer.*set_reserved_concurrency"),
        ("nodejs16.x", r"'nodejs16\.x'.*supports.*nodejs18\.x or newer.*set_reserved_concurrency"),
        (
            "python3.99",
            r"'python3\.99'.*does not know yet.*set the function's Runtime to "
            r"python3\.14",
        ),
        ("java21", r"'java21'.*not java.*set_reserved_concurrency"),
        ("dotnet8", r"'dotnet8'.*not dotnet"),
        ("ruby3.3", r"'ruby3\.3'.*not ruby"),
        ("provided.al2023", r"'provided\.al2023'.*not provided\.al"),
    ],
)
def test_a_runtime_the_layer_does_not_support_is_refused_before_any_change(
    cfg: dict[str, Any], runtime: str, expected: str
) -> None:
    ck = _publish(cfg, "chaoskit")
    role = aws.client("iam", cfg).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    aws.client("lambda", cfg).create_function(
        FunctionName="old-fn",
        Runtime=runtime,
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"A": "1"}},
    )
    before = lc.get_configuration("old-fn", cfg)
    with pytest.raises(layer.LayerRefused, match=expected):
        layer.enable_chaoskit_layer("old-fn", layer_arn=ck, configuration=cfg)
    after = lc.get_configuration("old-fn", cfg)
    assert lc.layer_arns(after) == [] and lc.environment_of(after) == {"A": "1"}
    assert after.get("RevisionId") == before.get("RevisionId")
    assert changes("run-layer-1") == []  # nothing journalled either


def test_the_fault_document_carries_the_run_seed(cfg: dict[str, Any]) -> None:
    _make_function(cfg)
    inject.inject_exception(FUNCTION, rate=0.3, configuration={**cfg, "chaoskit_seed": "77"})
    assert json.loads(_parameter(cfg) or "{}")["seed"] == "77"
    inject.inject_exception(FUNCTION, rate=0.3, configuration=cfg)  # no seed: the run id
    assert json.loads(_parameter(cfg) or "{}")["seed"] == "run-layer-1"


def test_one_acknowledgement_is_not_live_until_every_warm_environments_cache_expired(
    cfg: dict[str, Any],
) -> None:
    # A second warm environment that read "no faults" just before the write serves
    # that for up to a TTL more, whatever the first environment acknowledged: the
    # wait must cover it (a Node.js app's batches went to such an environment
    # and ran without the fault after the wait had said "live").
    _make_function(cfg, variables={"A": "1"})
    _ack(cfg, "v-new", "env-1")
    t = _FakeTime(100.0)
    out = layer._wait_live(
        FUNCTION, "v-new", 30.0, False, cfg, ttl=5.0, sleep=t.sleep, clock=t.clock
    )
    assert out["live"] is True and t.now >= 105.0 and out["waited_s"] == 5.0
    # Written after the wait began (a version named ahead): the TTL runs from the first ack.
    t = _FakeTime(200.0)
    layer._wait_live(
        FUNCTION, "v-new", 30.0, False, cfg, ttl=2.0, written=False, sleep=t.sleep, clock=t.clock
    )
    assert t.slept == [2.0]


def test_wait_for_fault_live_waits_the_functions_own_config_ttl(cfg: dict[str, Any]) -> None:
    _make_function(cfg, variables={"A": "1", envvars.CONFIG_TTL: "0.75"})
    injected = inject.inject_latency(FUNCTION, ms=5, configuration=cfg)
    _ack(cfg, injected["version"], "env-1")
    started = time.monotonic()
    out = layer.wait_for_fault_live(FUNCTION, timeout=5, configuration=cfg)
    assert out["live"] is True and time.monotonic() - started >= 0.75


# --- after a rollback, no warm environment keeps the restored faults ---------------


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds each settle slept (none really)."""
    slept: list[float] = []
    monkeypatch.setattr(lc, "_sleep", slept.append)
    return slept


def _install_layer_outside_any_run(cfg: dict[str, Any], ttl: str) -> None:
    variables = {
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/chaoskit-wrapper",
        envvars.CONFIG_PARAMETER: f"/chaoskit/faults/{FUNCTION}",
        envvars.CONFIG_TTL: ttl,
    }
    _make_function(cfg, layers=[_publish(cfg, "chaoskit")], variables=variables)


def test_a_rollback_waits_the_config_ttl_where_the_layer_stays_on_the_function(
    cfg: dict[str, Any], waits: list[float]
) -> None:
    _install_layer_outside_any_run(cfg, ttl="3")
    inject.inject_exception(FUNCTION, configuration=cfg)
    started = time.time()

    rows = rollback_run("run-layer-1", cfg)

    assert [r["status"] for r in rows] == ["restored"]
    assert _parameter(cfg) is None
    assert len(waits) == 1 and 3 - (time.time() - started) <= waits[0] <= 3, waits
    assert rollback_run("run-layer-1", cfg) == [] and len(waits) == 1  # nothing restored twice


def test_restore_fault_config_waits_too_and_a_ttl_past_the_limit_is_capped(
    cfg: dict[str, Any], waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    _install_layer_outside_any_run(cfg, ttl="3600")
    inject.inject_latency(FUNCTION, ms=100, configuration=cfg)

    with caplog.at_level("WARNING", logger="chaostoolkit.chaoskit"):
        inject.restore_fault_config(FUNCTION, configuration=cfg)

    assert len(waits) == 1 and lc.SETTLE_LIMIT - 5 <= waits[0] <= lc.SETTLE_LIMIT, waits
    assert "caches its fault config for 3600 s" in caplog.text


def test_no_wait_where_the_same_rollback_removed_the_layer(
    cfg: dict[str, Any], waits: list[float]
) -> None:
    _make_function(cfg)
    layer.enable_chaoskit_layer(
        FUNCTION, layer_arn=_publish(cfg, "chaoskit"), config_ttl=3, configuration=cfg
    )
    inject.inject_exception(FUNCTION, configuration=cfg)

    rows = rollback_run("run-layer-1", cfg)

    assert sorted(r["status"] for r in rows) == ["restored", "restored"]
    variables = lc.environment_of(lc.get_configuration(FUNCTION, cfg)) or {}
    assert envvars.CONFIG_PARAMETER not in variables
    assert waits == []


@pytest.mark.parametrize(
    "variables",
    [
        {envvars.CONFIG_PARAMETER: "/chaoskit/faults/another"},
        {envvars.CONFIG_PARAMETER: f"/chaoskit/faults/{FUNCTION}", envvars.DISABLED: "1"},
        {envvars.CONFIG_PARAMETER: f"/chaoskit/faults/{FUNCTION}", envvars.CONFIG: "{}"},
    ],
    ids=["reads-another-parameter", "layer-disabled", "inline-config-wins"],
)
def test_no_wait_where_the_function_does_not_read_the_restored_parameter(
    cfg: dict[str, Any], waits: list[float], variables: dict[str, str]
) -> None:
    _make_function(cfg, variables=variables)
    snapshot = {"function_name": FUNCTION, "parameter": f"/chaoskit/faults/{FUNCTION}"}

    assert lc.settle_fault_parameter(snapshot, cfg, time.time()) == 0.0
    assert waits == []


def test_no_wait_for_a_function_that_is_gone(cfg: dict[str, Any], waits: list[float]) -> None:
    snapshot = {"function_name": "deleted-function", "parameter": "/chaoskit/faults/x"}
    assert lc.settle_fault_parameter(snapshot, cfg, time.time()) == 0.0
    assert waits == []


def test_a_rollback_settles_each_function_once_however_many_faults_it_restored(
    cfg: dict[str, Any], waits: list[float]
) -> None:
    _install_layer_outside_any_run(cfg, ttl="3")
    inject.inject_exception(FUNCTION, configuration=cfg)
    inject.inject_latency(FUNCTION, ms=100, configuration=cfg)
    reads: list[dict[str, Any]] = []
    aws.client("lambda", cfg).meta.events.register(
        "before-call.lambda.GetFunctionConfiguration",
        lambda params, **kwargs: reads.append(params),
    )

    rows = rollback_run("run-layer-1", cfg)

    assert [r["status"] for r in rows] == ["restored", "restored"]
    assert _parameter(cfg) is None
    assert len(waits) == 1 and 2 <= waits[0] <= 3, waits
    assert len(reads) == 1, reads  # one read of the function, after its last restore

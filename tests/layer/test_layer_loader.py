"""The config loader: inline wins, SSM at most once per TTL, failures cached and warned once."""

from typing import Any

import boto3
from layer_helpers import FAR, config

from chaoskit import envvars
from chaoskit.layer import _aws
from chaoskit.layer.loader import ConfigLoader


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _ssm_put(name: str, value: str) -> None:
    # A client with default timeouts: moto's first SSM call is slow on a busy machine.
    ssm = boto3.session.Session().client("ssm")
    ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def test_inline_config_wins_and_is_parsed_once(lines: Any) -> None:
    env = {envvars.CONFIG: config({"kind": "latency", "rate": 1, "ms": 5}),
           envvars.CONFIG_PARAMETER: "/never/read"}  # fmt: skip
    fetched: list[str] = []

    def fetch(name: str) -> None:
        fetched.append(name)

    loader = ConfigLoader(env, fetch=fetch)
    first = loader.load()
    assert first is not None and first.faults[0].params == {"ms": 5}
    assert loader.load() is first
    assert fetched == []


def test_no_parameter_means_no_config_and_no_calls() -> None:
    loader = ConfigLoader({}, fetch=lambda name: 1 / 0)  # type: ignore[arg-type,return-value]
    assert loader.load() is None
    assert loader.fetches == 0


def test_ssm_is_called_at_most_once_per_ttl(moto_aws: dict[str, str]) -> None:
    _ssm_put("/chaoskit/faults/orders-worker", config({"kind": "latency", "rate": 1, "ms": 5}))
    calls: list[str] = []
    client = _aws.client("ssm")
    client.meta.events.register("before-send.ssm.GetParameter", lambda **kw: calls.append("x"))
    clock = Clock()
    env = {envvars.CONFIG_PARAMETER: "/chaoskit/faults/orders-worker", envvars.CONFIG_TTL: "5"}
    loader = ConfigLoader(env, clock=clock)
    for _ in range(1000):
        cfg = loader.load()
        clock.now += 0.001  # 1,000 invocations in one second
    assert cfg is not None and cfg.version == "v-1"
    assert len(calls) == 1
    _ssm_put("/chaoskit/faults/orders-worker", config(version="v-2"))
    clock.now += 5.0
    cfg = loader.load()
    assert cfg is not None and cfg.version == "v-2"
    assert len(calls) == 2


def test_a_missing_parameter_is_no_faults_without_a_warning(
    moto_aws: dict[str, str], lines: Any
) -> None:
    loader = ConfigLoader({envvars.CONFIG_PARAMETER: "/chaoskit/faults/absent"})
    assert loader.load() is None
    assert lines.warnings() == []


def test_an_unreachable_store_is_warned_once_per_ttl_and_cached(lines: Any) -> None:
    clock = Clock()

    def down(name: str) -> str:
        raise ConnectionError("ssm unreachable")

    env = {envvars.CONFIG_PARAMETER: "/p", envvars.CONFIG_TTL: "5"}
    loader = ConfigLoader(env, fetch=down, clock=clock)
    for _ in range(50):
        assert loader.load() is None
    assert loader.fetches == 1
    assert len(lines.warnings()) == 1
    assert "ssm unreachable" in lines.warnings()[0]["message"]


def test_a_malformed_parameter_is_no_faults_with_one_warning(lines: Any) -> None:
    loader = ConfigLoader({envvars.CONFIG_PARAMETER: "/p"}, fetch=lambda name: '{"faults": 3')
    for _ in range(10):
        assert loader.load() is None
    assert len(lines.warnings()) == 1


def test_a_bad_ttl_falls_back_to_the_default() -> None:
    assert ConfigLoader({envvars.CONFIG_TTL: "soon"}).ttl() == 5.0
    assert ConfigLoader({envvars.CONFIG_TTL: "1"}).ttl() == 1.0
    assert FAR > 0

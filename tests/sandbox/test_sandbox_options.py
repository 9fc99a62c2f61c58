"""Speed knobs: environment variables, validation, what LocalStack receives."""

import pytest

from chaoskit.errors import BadInput
from chaoskit.sandbox.options import FAST, SandboxOptions


def test_defaults_change_nothing_but_the_functions_priority():
    assert SandboxOptions().localstack_env() == {"CHAOSKIT_SANDBOX_FUNCTION_NICE": "10"}
    assert SandboxOptions.from_env({}) == SandboxOptions()


def test_env_vars_are_read_and_passed_to_localstack():
    options = SandboxOptions.from_env(
        {
            "CHAOSKIT_SANDBOX_RETRY_BASE_DELAY": "2",
            "CHAOSKIT_SANDBOX_HEALTH_INTERVAL": "0.5",
            "CHAOSKIT_SANDBOX_KEEPALIVE_MS": "30000",
            "CHAOSKIT_SANDBOX_POLL_BACKOFF": "1.5",
            "CHAOSKIT_SANDBOX_FUNCTION_NICE": "0",
        }
    )
    assert options == SandboxOptions(2, 0.5, 30000, 1.5, 0)
    assert options.localstack_env() == {
        "LAMBDA_RETRY_BASE_DELAY": "2",
        "LAMBDA_KEEPALIVE_MS": "30000",
        "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": "1.5",
        "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_ERROR_SEC": "1.5",
        "CHAOSKIT_SANDBOX_HEALTH_INTERVAL": "0.5",
        "CHAOSKIT_SANDBOX_FUNCTION_NICE": "0",
    }


def test_explicit_values_override_the_environment():
    base = SandboxOptions.from_env({"CHAOSKIT_SANDBOX_RETRY_BASE_DELAY": "9"})
    assert base.overridden(retry_base_delay=1, health_interval=None).retry_base_delay == 1
    assert base.overridden(retry_base_delay=None).retry_base_delay == 9


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHAOSKIT_SANDBOX_RETRY_BASE_DELAY": "soon"}, "CHAOSKIT_SANDBOX_RETRY_BASE_DELAY='soon'"),
        ({"CHAOSKIT_SANDBOX_HEALTH_INTERVAL": "-1"}, "health_interval=-1.0"),
        ({"CHAOSKIT_SANDBOX_POLL_BACKOFF": "0"}, "poll_backoff=0.0"),
        ({"CHAOSKIT_SANDBOX_FUNCTION_NICE": "20"}, "function_nice=20: expected a whole number"),
        ({"CHAOSKIT_SANDBOX_FUNCTION_NICE": "-1"}, "function_nice=-1"),
        ({"CHAOSKIT_SANDBOX_FUNCTION_NICE": "low"}, "CHAOSKIT_SANDBOX_FUNCTION_NICE='low'"),
    ],
)
def test_bad_values_are_refused_naming_the_value(env, message):
    with pytest.raises(BadInput, match=message.replace("(", r"\(")):
        SandboxOptions.from_env(env)


def test_fast_options_shorten_retries_and_probes():
    assert FAST.retry_base_delay == 1
    assert FAST.health_interval is not None and FAST.health_interval <= 1

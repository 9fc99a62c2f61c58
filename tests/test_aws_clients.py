"""The client factory: Chaos Toolkit secrets, assumed roles that refresh, a user agent.

All against a real moto server over HTTP; what the clients send is read from
botocore's ``before-send`` hook (the request as it goes on the wire).
"""

from typing import Any

import pytest
from botocore.credentials import DeferredRefreshableCredentials

from chaoskit import __version__, aws
from chaoskit.errors import BadInput

SECRETS = {"aws_access_key_id": "AKIASECRETS000000001", "aws_secret_access_key": "s3cret"}


@pytest.fixture
def real(aws_env: dict[str, str]) -> dict[str, Any]:
    # The aws target (boto3's chain, AWS_ENDPOINT_URL pointing at moto): where
    # secrets and roles matter. Emulator targets accept any credentials.
    return {"chaoskit_target": "aws", "aws_region": "us-east-1"}


def _sent(client: Any) -> list[Any]:
    requests: list[Any] = []
    client.meta.events.register("before-send", lambda request, **kw: requests.append(request))
    return requests


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name) or b""
    return value.decode() if isinstance(value, bytes) else str(value)


def test_every_client_names_chaoskit_and_its_version_in_the_user_agent(real: dict) -> None:
    sts = aws.client("sts", real)
    sent = _sent(sts)
    sts.get_caller_identity()
    assert f"chaoskit/{__version__}" in _header(sent[0], "User-Agent")


def test_secrets_are_the_credentials(real: dict) -> None:
    sts = aws.client("sts", real, SECRETS)
    sent = _sent(sts)
    sts.get_caller_identity()
    assert "Credential=AKIASECRETS000000001/" in _header(sent[0], "Authorization")
    # Without secrets: boto3's chain (the environment), a different client.
    plain = aws.client("sts", real)
    assert plain is not sts
    sent_plain = _sent(plain)
    plain.get_caller_identity()
    assert "Credential=testing/" in _header(sent_plain[0], "Authorization")


def test_an_activitys_secrets_reach_clients_built_without_them(real: dict) -> None:
    from chaoskit.undo.control import before_activity_control, cleanup_control

    activity = {"type": "action", "provider": {"type": "python", "secrets": ["aws"]}}
    before_activity_control(activity, real, {"aws": SECRETS, "other": {"x": "y"}})
    try:
        sts = aws.client("sts", real)
        sent = _sent(sts)
        sts.get_caller_identity()
        assert "Credential=AKIASECRETS000000001/" in _header(sent[0], "Authorization")
    finally:
        aws.use_secrets(None)
        cleanup_control()


def test_partial_secrets_are_refused(real: dict) -> None:
    with pytest.raises(BadInput, match="aws_secret_access_key"):
        aws.client("sts", real, {"aws_access_key_id": "AKIAONLY"})


def test_an_assumed_role_refreshes_its_credentials(real: dict) -> None:
    role = aws.client("iam", real).create_role(RoleName="chaos", AssumeRolePolicyDocument="{}")[
        "Role"
    ]["Arn"]
    cfg = {**real, "aws_assume_role_arn": role}
    sts = aws.client("sts", cfg)
    creds = sts._request_signer._credentials
    assert isinstance(creds, DeferredRefreshableCredentials)
    sent = _sent(sts)
    who = sts.get_caller_identity()
    assert ":assumed-role/chaos/chaoskit" in who["Arn"]
    first = creds.get_frozen_credentials()
    # What botocore calls when the credentials near their expiry: a new AssumeRole.
    refreshed = creds._refresh_using()
    assert refreshed["access_key"] != first.access_key
    assert refreshed["expiry_time"]
    assert f"chaoskit/{__version__}" in _header(sent[0], "User-Agent")


def test_target_settings_hold_only_the_flags_given() -> None:
    assert aws.target_settings(None, None) == {}
    assert aws.target_settings("aws", None) == {"chaoskit_target": "aws"}
    assert aws.target_settings("localstack", "http://127.0.0.1:4566") == {
        "chaoskit_target": "localstack",
        "chaoskit_endpoint_url": "http://127.0.0.1:4566",
    }

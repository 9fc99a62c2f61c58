"""The rest of the app's wiring: the workflow, its trigger, versions and alias, the alarm."""

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.deploy.resources import wait_function_ready
from chaoskit.errors import aws_failure

__all__ = ["ensure_alarm", "ensure_alias", "ensure_rule", "ensure_state_machine"]

Config = Mapping[str, Any] | None


def ensure_state_machine(
    name: str, definition: str, role_arn: str, configuration: Config = None
) -> str:
    """Ensure a standard state machine with this definition; return its ARN."""
    sfn = aws.client("stepfunctions", configuration)
    try:
        for machine in sfn.list_state_machines().get("stateMachines", []):
            if machine["name"] == name:
                arn = str(machine["stateMachineArn"])
                current = sfn.describe_state_machine(stateMachineArn=arn)
                if current.get("definition") != definition or current.get("roleArn") != role_arn:
                    sfn.update_state_machine(
                        stateMachineArn=arn, definition=definition, roleArn=role_arn
                    )
                return arn
        created = sfn.create_state_machine(name=name, definition=definition, roleArn=role_arn)
    except ClientError as err:
        raise aws_failure("states:CreateStateMachine", name, err) from err
    return str(created["stateMachineArn"])


def ensure_rule(
    name: str,
    pattern: Mapping[str, Any],
    target_arn: str,
    role_arn: str,
    configuration: Config = None,
) -> str:
    """Ensure an EventBridge rule on the default bus with one target; return the rule ARN."""
    events = aws.client("events", configuration)
    try:
        arn = str(
            events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")["RuleArn"]
        )
        events.put_targets(
            Rule=name, Targets=[{"Id": "target", "Arn": target_arn, "RoleArn": role_arn}]
        )
    except ClientError as err:
        raise aws_failure("events:PutRule", name, err) from err
    return arn


def _layers(config: Mapping[str, Any]) -> list[str]:
    return [str(layer["Arn"]) for layer in config.get("Layers") or []]


def _publish(
    function: str,
    release: int,
    configuration: Config,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Publish a version of ``$LATEST``, with ``extra`` layers and env for that version only.

    Lambda publishes a version only when something changed since the last one:
    a release number in the environment makes each publish distinct.
    """
    lam = aws.client("lambda", configuration)
    current = lam.get_function_configuration(FunctionName=function)
    env = dict((current.get("Environment") or {}).get("Variables") or {})
    env["ORDERS_RELEASE"] = str(release)
    update: dict[str, Any] = {
        "Environment": {"Variables": {**env, **dict((extra or {}).get("env") or {})}}
    }
    if extra and extra.get("layer"):
        update["Layers"] = [*_layers(current), str(extra["layer"])]
    lam.update_function_configuration(FunctionName=function, **update)
    wait_function_ready(function, configuration)
    version = int(lam.publish_version(FunctionName=function)["Version"])
    if extra:
        # $LATEST goes back to the app alone: only the published version carries chaoskit.
        lam.update_function_configuration(
            FunctionName=function, Layers=_layers(current), Environment={"Variables": env}
        )
        wait_function_ready(function, configuration)
    return version


def _current(
    function: str, version: str, extra: Mapping[str, Any] | None, configuration: Config
) -> bool:
    lam = aws.client("lambda", configuration)
    latest = lam.get_function_configuration(FunctionName=function)
    published = lam.get_function_configuration(FunctionName=function, Qualifier=version)
    same = all(latest.get(k) == published.get(k) for k in ("CodeSha256", "Handler"))
    if extra and extra.get("layer"):
        same = same and str(extra["layer"]) in _layers(published)
    return same


def ensure_alias(
    function: str,
    alias: str,
    configuration: Config = None,
    candidate_extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Ensure a stable version behind ``alias`` and a candidate version of the current code.

    The alias serves the first published version, the stable release. The
    candidate is the last published version, published again whenever the
    deployed code or handler changed (e.g. ``--variant broken``): it is what a
    canary experiment shifts weight to. ``candidate_extra`` (``{"layer": arn,
    "env": {...}}``) is added to the candidate only, e.g. chaoskit's layer so
    faults can be injected into the new version alone. A redeploy of unchanged
    code publishes nothing.

    Returns:
        ``{"alias_arn", "stable", "candidate"}``.
    """
    lam = aws.client("lambda", configuration)
    try:
        listed = lam.list_versions_by_function(FunctionName=function)["Versions"]
        published = sorted(int(v["Version"]) for v in listed if v["Version"] != "$LATEST")
        if not published:
            published.append(_publish(function, 1, configuration))
        if len(published) < 2 or not _current(
            function, str(published[-1]), candidate_extra, configuration
        ):
            published.append(_publish(function, published[-1] + 1, configuration, candidate_extra))
        stable, candidate = str(published[0]), str(published[-1])
        try:
            arn = str(lam.get_alias(FunctionName=function, Name=alias)["AliasArn"])
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            created = lam.create_alias(FunctionName=function, Name=alias, FunctionVersion=stable)
            arn = str(created["AliasArn"])
    except ClientError as err:
        raise aws_failure("lambda:PublishVersion", function, err) from err
    return {"alias_arn": arn, "stable": stable, "candidate": candidate}


def ensure_alarm(name: str, function: str, period: int = 60, configuration: Config = None) -> str:
    """Ensure an alarm on any error of ``function``; return its name."""
    cloudwatch = aws.client("cloudwatch", configuration)
    try:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=f"errors in {function}: a deployment in progress rolls back",
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": function}],
            Statistic="Sum",
            Period=period,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
    except ClientError as err:
        raise aws_failure("cloudwatch:PutMetricAlarm", name, err) from err
    return name

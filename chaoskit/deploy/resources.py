"""Idempotent "ensure" helpers for the AWS resources of the reference app.

Each helper creates the resource when it is missing and otherwise brings it to
the wanted state, so deploying twice changes nothing the second time. Every
AWS failure becomes an :class:`~chaoskit.errors.AWSActionFailed` naming the
call and the resource.
"""

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.errors import aws_failure

__all__ = [
    "account_id",
    "ensure_event_invoke_config",
    "ensure_event_source",
    "ensure_function",
    "ensure_permission",
    "ensure_queue",
    "ensure_role",
    "ensure_stream",
    "ensure_table",
    "queue_arn",
    "wait_function_ready",
]

Config = Mapping[str, Any] | None

#: Env keys a redeploy keeps: chaoskit's actions own some (the layer, its wrapper), and
#: ORDERS_RELEASE numbers the published versions.
_KEPT_ENV_PREFIXES = ("CHAOSKIT_", "AWS_LAMBDA_EXEC_WRAPPER", "ORDERS_RELEASE")


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def account_id(configuration: Config = None) -> str:
    """Return the account id of the target (``000000000000``-like on emulators)."""
    try:
        return str(aws.client("sts", configuration).get_caller_identity()["Account"])
    except ClientError as err:
        raise aws_failure("sts:GetCallerIdentity", "caller", err) from err


def ensure_role(
    name: str, services: list[str], policy: Mapping[str, Any], configuration: Config = None
) -> str:
    """Ensure an IAM role assumable by ``services`` with an inline policy; return its ARN."""
    iam = aws.client("iam", configuration)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        arn = str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except ClientError as err:
        if _code(err) != "NoSuchEntity":
            raise aws_failure("iam:GetRole", name, err) from err
        try:
            arn = str(
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
                    "Arn"
                ]
            )
        except ClientError as err2:
            raise aws_failure("iam:CreateRole", name, err2) from err2
    try:
        iam.put_role_policy(
            RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy)
        )
    except ClientError as err:
        raise aws_failure("iam:PutRolePolicy", name, err) from err
    return arn


def ensure_queue(name: str, attributes: Mapping[str, str], configuration: Config = None) -> str:
    """Ensure an SQS queue with these attributes; return its URL."""
    sqs = aws.client("sqs", configuration)
    try:
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as err:
        if "NonExistentQueue" not in _code(err) and _code(err) != "QueueDoesNotExist":
            raise aws_failure("sqs:GetQueueUrl", name, err) from err
        try:
            return str(sqs.create_queue(QueueName=name, Attributes=dict(attributes))["QueueUrl"])
        except ClientError as err2:
            raise aws_failure("sqs:CreateQueue", name, err2) from err2
    if attributes:
        try:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=dict(attributes))
        except ClientError as err:
            raise aws_failure("sqs:SetQueueAttributes", name, err) from err
    return url


def queue_arn(url: str, configuration: Config = None) -> str:
    """Return the ARN of the queue at ``url``."""
    sqs = aws.client("sqs", configuration)
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    except ClientError as err:
        raise aws_failure("sqs:GetQueueAttributes", url, err) from err
    return str(attrs["Attributes"]["QueueArn"])


def ensure_table(
    name: str,
    key: str,
    indexes: Mapping[str, tuple[str, str]] | None = None,
    configuration: Config = None,
) -> str:
    """Ensure an on-demand DynamoDB table keyed by ``key`` (string), with GSIs; return its name.

    ``indexes`` maps an index name to its (hash, range) string attributes.
    """
    ddb = aws.client("dynamodb", configuration)
    indexes = indexes or {}
    attributes = {key} | {a for pair in indexes.values() for a in pair}
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)
        ],
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": range_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, (hash_key, range_key) in indexes.items()
        ]
    try:
        status = ddb.create_table(**kwargs)["TableDescription"].get("TableStatus")
    except ClientError as err:
        if _code(err) != "ResourceInUseException":
            raise aws_failure("dynamodb:CreateTable", name, err) from err
        status = ddb.describe_table(TableName=name)["Table"].get("TableStatus")
    if status != "ACTIVE":
        ddb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    return name


def ensure_stream(name: str, shards: int = 1, configuration: Config = None) -> str:
    """Ensure a Kinesis stream; return its ARN once it is active."""
    kinesis = aws.client("kinesis", configuration)
    try:
        kinesis.create_stream(StreamName=name, ShardCount=shards)
    except ClientError as err:
        if _code(err) != "ResourceInUseException":
            raise aws_failure("kinesis:CreateStream", name, err) from err
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    return str(summary["StreamARN"])


def wait_function_ready(name: str, configuration: Config = None) -> None:
    """Wait until a function is active and its last update finished."""
    lam = aws.client("lambda", configuration)
    waiter_config = {"Delay": 1, "MaxAttempts": 120}
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=waiter_config)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=waiter_config)


def _retrying(
    call: Callable[[], Any], sleep: Callable[[float], None] = time.sleep, attempts: int = 10
) -> Any:
    # A new IAM role takes a few seconds to be assumable by Lambda on AWS.
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as err:
            message = str(err.response.get("Error", {}).get("Message", ""))
            if _code(err) != "InvalidParameterValueException" or "role" not in message.lower():
                raise
            if attempt == attempts - 1:
                raise
            sleep(2.0)
    return None


def ensure_function(
    name: str,
    handler: str,
    code: bytes,
    code_sha: str,
    role_arn: str,
    environment: Mapping[str, str],
    timeout: int,
    memory: int = 256,
    runtime: str = "python3.12",
    configuration: Config = None,
) -> dict[str, Any]:
    """Ensure a function with this code and configuration; return its configuration.

    Code is updated only when its SHA-256 differs. Env keys owned by chaoskit's
    actions (``CHAOSKIT_*``, ``AWS_LAMBDA_EXEC_WRAPPER``) and the function's
    layers are left as they are, so a redeploy never fights a running experiment.
    """
    lam = aws.client("lambda", configuration)
    try:
        current = lam.get_function_configuration(FunctionName=name)
    except ClientError as err:
        if _code(err) != "ResourceNotFoundException":
            raise aws_failure("lambda:GetFunctionConfiguration", name, err) from err
        try:
            _retrying(
                lambda: lam.create_function(
                    FunctionName=name,
                    Runtime=runtime,
                    Role=role_arn,
                    Handler=handler,
                    Code={"ZipFile": code},
                    Timeout=timeout,
                    MemorySize=memory,
                    Environment={"Variables": dict(environment)},
                )
            )
        except ClientError as err2:
            raise aws_failure("lambda:CreateFunction", name, err2) from err2
        wait_function_ready(name, configuration)
        return dict(lam.get_function_configuration(FunctionName=name))
    if current.get("CodeSha256") != code_sha:
        try:
            lam.update_function_code(FunctionName=name, ZipFile=code)
        except ClientError as err:
            raise aws_failure("lambda:UpdateFunctionCode", name, err) from err
        wait_function_ready(name, configuration)
    existing = dict((current.get("Environment") or {}).get("Variables") or {})
    wanted_env = {k: v for k, v in existing.items() if k.startswith(_KEPT_ENV_PREFIXES)}
    wanted_env.update(environment)
    wanted = {
        "Handler": handler,
        "Runtime": runtime,
        "Role": role_arn,
        "Timeout": timeout,
        "MemorySize": memory,
    }
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if existing != wanted_env:
        changed["Environment"] = {"Variables": wanted_env}
    if changed:
        try:
            lam.update_function_configuration(FunctionName=name, **changed)
        except ClientError as err:
            raise aws_failure("lambda:UpdateFunctionConfiguration", name, err) from err
        wait_function_ready(name, configuration)
    return dict(lam.get_function_configuration(FunctionName=name))


def ensure_event_source(
    function: str, source_arn: str, settings: Mapping[str, Any], configuration: Config = None
) -> str:
    """Ensure one event source mapping from ``source_arn`` to ``function``; return its UUID."""
    lam = aws.client("lambda", configuration)
    try:
        found = lam.list_event_source_mappings(EventSourceArn=source_arn, FunctionName=function)
    except ClientError as err:
        raise aws_failure("lambda:ListEventSourceMappings", function, err) from err
    mappings = found.get("EventSourceMappings", [])
    updatable = {k: v for k, v in settings.items() if k not in ("StartingPosition",)}
    try:
        if mappings:
            uuid = str(mappings[0]["UUID"])
            lam.update_event_source_mapping(UUID=uuid, FunctionName=function, **updatable)
            return uuid
        created = lam.create_event_source_mapping(
            EventSourceArn=source_arn, FunctionName=function, **settings
        )
    except ClientError as err:
        raise aws_failure("lambda:CreateEventSourceMapping", function, err) from err
    return str(created["UUID"])


def ensure_event_invoke_config(
    function: str,
    on_failure_arn: str,
    max_retries: int = 2,
    max_age: int = 3600,
    qualifier: str | None = None,
    configuration: Config = None,
) -> None:
    """Set a function's async retries, event age and on-failure destination."""
    lam = aws.client("lambda", configuration)
    kwargs: dict[str, Any] = {
        "FunctionName": function,
        "MaximumRetryAttempts": max_retries,
        "MaximumEventAgeInSeconds": max_age,
        "DestinationConfig": {"OnFailure": {"Destination": on_failure_arn}},
    }
    if qualifier:
        kwargs["Qualifier"] = qualifier
    try:
        lam.put_function_event_invoke_config(**kwargs)
    except ClientError as err:
        raise aws_failure("lambda:PutFunctionEventInvokeConfig", function, err) from err


def ensure_permission(
    function: str, sid: str, principal: str, source_arn: str, configuration: Config = None
) -> None:
    """Allow ``principal`` to invoke ``function`` (a statement that exists is kept)."""
    lam = aws.client("lambda", configuration)
    try:
        lam.add_permission(
            FunctionName=function,
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal=principal,
            SourceArn=source_arn,
        )
    except ClientError as err:
        if _code(err) != "ResourceConflictException":
            raise aws_failure("lambda:AddPermission", function, err) from err

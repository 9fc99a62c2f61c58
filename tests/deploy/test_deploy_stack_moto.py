"""The change-set flow against another CloudFormation: moto's (target ``localstack``).

Create, "no changes" (a FAILED change set, as on AWS) and update, through
:func:`chaoskit.deploy.deploy_template` and a real moto server. moto returns no
stack outputs after a change set, so this reads the resources instead.
"""

from pathlib import Path
from typing import Any

import boto3

from chaoskit.deploy import deploy_template

QUEUES = """\
Parameters:
  Visibility: {Type: Number, Default: 30}
Resources:
  Dlq: {Type: AWS::SQS::Queue}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref Visibility
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 3
Outputs:
  QueueUrl: {Value: !Ref Queue}
  DlqArn: {Value: !GetAtt Dlq.Arn}
"""


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "template.yaml"
    path.write_text(text)
    return path


def test_create_then_no_changes_then_update(tmp_path: Path, aws_env: dict[str, Any]) -> None:
    path = _write(tmp_path / "queues", QUEUES)
    lines: list[str] = []
    created = deploy_template(path, configuration=aws_env, progress=lines.append)
    assert created["stack_name"] == "queues"
    assert created["changed"] is True
    assert created["status"] == "CREATE_COMPLETE"
    assert created["resource_types"] == {"Dlq": "AWS::SQS::Queue", "Queue": "AWS::SQS::Queue"}
    sqs = boto3.client("sqs", endpoint_url=aws_env["chaoskit_endpoint_url"])
    attrs = sqs.get_queue_attributes(QueueUrl=created["resources"]["Queue"], AttributeNames=["All"])
    assert attrs["Attributes"]["VisibilityTimeout"] == "30"
    assert "deadLetterTargetArn" in attrs["Attributes"]["RedrivePolicy"]
    assert any(
        line.endswith("CREATE_COMPLETE      AWS::CloudFormation::Stack queues") for line in lines
    ), lines

    lines.clear()
    again = deploy_template(path, configuration=aws_env, progress=lines.append)
    assert again["changed"] is False
    assert again["resources"] == created["resources"]
    assert "stack 'queues': no changes" in lines

    updated = deploy_template(path, parameters={"Visibility": "60"}, configuration=aws_env)
    assert updated["changed"] is True
    attrs = sqs.get_queue_attributes(QueueUrl=updated["resources"]["Queue"], AttributeNames=["All"])
    assert attrs["Attributes"]["VisibilityTimeout"] == "60"

"""Record every SQS message the function receives into the table its environment names."""

import os

import boto3


def handler(event, context):
    table = boto3.client("dynamodb")
    for record in event.get("Records", []):
        table.put_item(
            TableName=os.environ["TABLE"],
            Item={
                "id": {"S": record["body"]},
                "flavor": {"S": os.environ.get("FLAVOR", "")},
            },
        )
    return {}

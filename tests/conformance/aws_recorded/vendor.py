"""Extract snapshots.json from a LocalStack clone: python vendor.py <clone> (test data tool)."""
# ruff: noqa: E501

import json
import subprocess
import sys
from pathlib import Path

REPO = sys.argv[1]
COMMIT = subprocess.check_output(["git", "-C", REPO, "rev-parse", "HEAD"], text=True).strip()
base = "tests/aws/services/"
#: The event filtering cases last validated against AWS (2025-11-25).
SQS_FILTERS = ["single", "or", "and", "exists", "numeric-bigger", "numeric-smaller",
               "numeric-range", "prefix", "valid-json-filter"]  # fmt: skip
DYNAMODB_FILTERS = ["insert_same_entry_twice", "content_or_filter", "content_filter_type",
                    "exists_filter_type", "exists_false_filter", "numeric_filter",
                    "prefix_filter", "date_time_conversion"]  # fmt: skip
W = {
    "lambda_/event_source_mapping/test_lambda_integration_kinesis": {
        "TestKinesisSource::test_kinesis_event_source_mapping_with_on_failure_destination_config": [
            "sqs_payload"
        ],
        "TestKinesisSource::test_kinesis_maximum_record_age_exceeded[expire-while-retrying]": [
            "record_age_exceeded_payload"
        ],
        "TestKinesisSource::test_kinesis_maximum_record_age_exceeded[expire-before-ingestion]": [
            "record_age_exceeded_payload"
        ],
        "TestKinesisSource::test_kinesis_report_batch_item_failures": None,
        "TestKinesisSource::test_kinesis_event_source_mapping_with_sns_on_failure_destination_config": None,
        "TestKinesisSource::test_disable_kinesis_event_source_mapping": None,
    },
    "lambda_/event_source_mapping/test_lambda_integration_dynamodbstreams": {
        "TestDynamoDBEventSourceMapping::test_dynamodb_event_source_mapping_with_on_failure_destination_config": [
            "destination_queue_messages"
        ],
        "TestDynamoDBEventSourceMapping::test_dynamodb_event_source_mapping_with_sns_on_failure_destination_config": [
            "failure_sns_message"
        ],
        "TestDynamoDBEventSourceMapping::test_dynamodb_report_batch_item_failures": [
            "destination_queue_messages"
        ],
        "TestDynamoDBEventSourceMapping::test_disabled_dynamodb_event_source_mapping": None,
        **{
            f"TestDynamoDBEventSourceMapping::test_dynamodb_event_filter[{case}]": [
                "lambda-multiple-log-events"
            ]
            for case in DYNAMODB_FILTERS
        },
    },
    "lambda_/event_source_mapping/test_lambda_integration_sqs": {
        "test_redrive_policy_with_failing_lambda": None,
        "test_report_batch_item_failures": None,
        "test_failing_lambda_retries_after_visibility_timeout": None,
        "TestSQSEventSourceMapping::test_sqs_event_source_mapping_batching_reserved_concurrency": None,
        **{
            f"TestSQSEventSourceMapping::test_sqs_event_filter[{case}]": ["invocation_events"]
            for case in SQS_FILTERS
        },
    },
    "lambda_/test_lambda_destinations": {
        "TestLambdaDestinationSqs::test_retries": None,
        "TestLambdaDestinationSqs::test_maxeventage": None,
        "TestLambdaDestinationSqs::test_assess_lambda_destination_invocation[payload1]": None,
        "TestLambdaDestinationEventbridge::test_invoke_lambda_eventbridge": None,
        "TestLambdaDLQ::test_dead_letter_queue": ["receive_result"],
    },
    "dynamodbstreams/test_dynamodb_streams": {
        "TestDynamoDBStreams::test_enable_kinesis_streaming_destination": None,
    },
    "sns/test_sns": {"TestSNSSubscriptionLambda::test_sns_topic_as_lambda_dead_letter_queue": None},
    "sns/test_sns_filter_policy": {
        "TestSNSFilterPolicyAttributes::test_filter_policy": [f"messages-{i}" for i in range(1, 5)],
        "TestSNSFilterPolicyAttributes::test_exists_filter_policy": [
            f"messages-{i}" for i in range(1, 5)
        ],
        "TestSNSFilterPolicyBody::test_filter_policy_on_message_body[True]": [
            "recv-passed-msg-0",
            "recv-passed-msg-1",
        ],
    },
}
out = {}
sources = []
for path, tests in W.items():
    snap = json.loads(
        subprocess.check_output(["git", "-C", REPO, "show", f"HEAD:{base}{path}.snapshot.json"])
    )
    val = json.loads(
        subprocess.check_output(["git", "-C", REPO, "show", f"HEAD:{base}{path}.validation.json"])
    )
    for t, keys in tests.items():
        k = f"{base}{path}.py::{t}"
        rc = snap[k]["recorded-content"]
        if keys:
            rc = {x: rc[x] for x in keys}
        out[k] = {
            "recorded-date": snap[k]["recorded-date"],
            "last_validated_date": val.get(k, {}).get("last_validated_date"),
            "recorded-content": rc,
        }
    sources.append(f"{base}{path}.snapshot.json")
Path(__file__).with_name("snapshots.json").write_text(json.dumps(out, indent=1, sort_keys=True))
print(COMMIT)
print("\n".join(sources))

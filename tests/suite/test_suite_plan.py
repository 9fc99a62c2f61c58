"""chaoskit init's plan: the right experiments for a topology, valid, aimed at logical IDs."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from chaoskit.runner import load_experiment_file
from chaoskit.suite import generate_suite, write_suite
from chaoskit.suite.calls import aws_services_called, aws_services_called_js, services_for_runtime
from chaoskit.suite.entries import entries_of
from chaoskit.topology import load_template

APPS = Path(__file__).resolve().parents[1] / "apps"


def _references(node: Any) -> set[str]:
    if isinstance(node, str):
        return {node[len("stack:") :]} if node.startswith("stack:") else set()
    if isinstance(node, dict):
        return set().union(*(_references(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_references(v) for v in node)) if node else set()
    return set()


def _kinds(template: Path, **kwargs: Any) -> list[tuple[str, str]]:
    suite = generate_suite(template=template, stack_name="app", **kwargs)
    return [(p.kind, p.slug) for p in suite.experiments]


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("sqs-dlq", {"kill switch", "errors"}),
        # Its handler module creates a kinesis client but never calls it: nothing to throttle.
        ("kinesis-onfailure", {"kill switch", "errors", "poison pill"}),
        ("sns-async", {"errors"}),
        ("scheduler-async-dlq", {"errors"}),
        # Its folder holds both functions' modules: only the producer's calls DynamoDB.
        ("dynamodb-stream", {"kill switch", "errors", "poison pill"}),
        ("lambda-destinations", {"errors"}),
    ],
)
def test_each_vendored_app_gets_valid_experiments_aimed_at_its_logical_ids(
    app: str, expected: set[str], tmp_path: Path
) -> None:
    template = APPS / app / "template.yaml"
    suite = generate_suite(template=template, stack_name=app)
    assert {p.kind for p in suite.experiments} == expected
    logical_ids = set(load_template(template).resources)
    written = write_suite(suite, tmp_path)
    assert sorted(p.name for p in written) == sorted(
        [f"{p.slug}.yaml" for p in suite.experiments] + ["gameday.yaml", "README.md"]
    )
    for planned in suite.experiments:
        experiment = load_experiment_file(tmp_path / f"{planned.slug}.yaml")  # chaoslib validates
        assert experiment["configuration"]["chaoskit_stack"] == app
        refs = _references(experiment)
        assert refs and refs <= logical_ids, refs - logical_ids
        probes = [p["name"] for p in experiment["steady-state-hypothesis"]["probes"]]
        assert probes == ["no-events-lost", "none-in-flight"]
        assert experiment["rollbacks"][0]["provider"]["func"] == "rollback_current_run"
    readme = (tmp_path / "README.md").read_text()
    assert all(p.slug in readme for p in suite.experiments)


def test_an_errors_experiment_sends_enough_events_that_its_fault_rarely_misses_them_all() -> None:
    # A Kinesis batch takes about four events at four a second: ten events were about three
    # invocations, and a fault at rate 0.5 missed all of them in one run in four or so.
    suite = generate_suite(template=APPS / "kinesis-onfailure" / "template.yaml", stack_name="k")
    events = {p.kind: p.experiment["configuration"]["events"] for p in suite.experiments}
    assert events == {"errors": 40, "kill switch": 10, "poison pill": 10}
    errors = next(p for p in suite.experiments if p.kind == "errors").experiment
    send = next(s for s in errors["method"] if s["provider"].get("func") == "send_events")
    invocations = events["errors"] / send["provider"]["arguments"]["rate_per_second"]
    assert 0.5**invocations < 0.01  # four events a batch: P(no fault fired) under 1%


def test_the_sqs_app_waits_on_its_queue_and_reads_its_dlq() -> None:
    suite = generate_suite(template=APPS / "sqs-dlq" / "template.yaml", stack_name="s")
    errors = next(p for p in suite.experiments if p.kind == "errors").experiment
    settle = errors["method"][-1]["provider"]["arguments"]
    assert settle["queues"] == ["stack:ProcessingQueue"]
    assert settle["dlqs"] == ["stack:ProcessingDLQ"]
    assert errors["configuration"]["chaoskit_terminal_stages"] == ["stack:ProcessorFunction"]
    assert "after 3 receives it moves to ProcessingDLQ" in errors["description"]
    assert "Expect a deviation" not in errors["description"]


def test_an_async_function_without_destination_is_not_expected_to_lose_a_bursts_events() -> None:
    # Lambda retries a minute and then two after a failure: the errors' burst is over by
    # then, and each failed event is processed (seen on the sandbox: 22 of 40 failed, all
    # processed on their retry). What such an app loses, an event failing every attempt,
    # is named, not expected.
    suite = generate_suite(template=APPS / "sns-async" / "template.yaml", stack_name="s")
    (errors,) = suite.experiments
    assert errors.experiment["method"][3]["provider"]["arguments"]["target_type"] == "sns"
    description = errors.experiment["description"]
    assert "Expect a deviation" not in description
    assert "expected to be processed then. Not shown here: an event failing every " in description
    assert "no on-failure destination or DLQ" in description
    assert errors.proves.startswith("failures of ") and "absorbed" in errors.proves


def test_the_stream_poison_pill_matches_one_records_payload_and_reads_the_destination() -> None:
    suite = generate_suite(template=APPS / "kinesis-onfailure" / "template.yaml", stack_name="k")
    pill = next(p for p in suite.experiments if p.kind == "poison pill").experiment
    steps = {s["name"]: s["provider"].get("arguments", {}) for s in pill["method"]}
    assert steps["fail-on-the-poison-pill"]["match"] == {"fields": {"chaoskit_poison_pill": True}}
    assert steps["send-a-poison-pill"]["payload"]["chaoskit_poison_pill"] is True
    assert steps["wait-until-settled"]["dlqs"] == ["stack:AnomalyDataQueue"]
    assert "Only the poison pill should end in the failure destination" in pill["description"]


def _write_template(tmp_path: Path, resources: dict[str, Any]) -> Path:
    path = tmp_path / "app" / "template.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}))
    return path


def _function(runtime: str = "python3.12", **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": runtime,
            "Handler": "app.handler",
            "Role": "arn:aws:iam::123456789012:role/r",
            "Code": {
                "ZipFile": "import boto3\nT = boto3.resource('dynamodb')\n"
                "def handler(event, context):\n    T.Table('t').put_item(Item=event)\n"
            },
            **properties,
        },
    }


def _table(view: str, *keys: tuple[str, str]) -> dict[str, Any]:
    """A DynamoDB table with a stream of ``view``; its keys (name, type) hash first, ``id`` S."""
    keys = keys or (("id", "S"),)
    return {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in keys],
            "KeySchema": [
                {"AttributeName": n, "KeyType": "HASH" if i == 0 else "RANGE"}
                for i, (n, _) in enumerate(keys)
            ],
            "StreamSpecification": {"StreamViewType": view},
        },
    }


def _mapping(function: str, source: str, kind: str = "sqs") -> dict[str, Any]:
    props: dict[str, Any] = {
        "FunctionName": {"Ref": function},
        "EventSourceArn": {"Fn::GetAtt": [source, "Arn" if kind != "dynamodb" else "StreamArn"]},
    }
    if kind != "sqs":
        props["StartingPosition"] = "LATEST"
    return {"Type": "AWS::Lambda::EventSourceMapping", "Properties": props}


def _enabled(experiment: dict[str, Any]) -> list[str]:
    """Return the functions an experiment enables the layer on, in order."""
    return [
        s["provider"]["arguments"]["function_name"]
        for s in experiment["method"]
        if s["provider"]["func"] == "enable_chaoskit_layer"
    ]


def test_a_chain_traces_every_function_and_ends_at_the_last(tmp_path: Path) -> None:
    template = _write_template(
        tmp_path,
        {
            "In": {"Type": "AWS::SQS::Queue"},
            "Out": {"Type": "AWS::SQS::Queue"},
            "First": _function(Environment={"Variables": {"NEXT": {"Ref": "Out"}}}),
            "Second": _function(),
            "FirstIn": _mapping("First", "In"),
            "SecondOut": _mapping("Second", "Out"),
        },
    )
    suite = generate_suite(template=template, stack_name="chain")
    first = next(p for p in suite.experiments if p.slug == "errors-first-sqs").experiment
    enabled = _enabled(first)
    assert enabled == ["stack:First", "stack:Second"]
    assert first["configuration"]["chaoskit_terminal_stages"] == ["stack:Second"]
    throttles = [p.slug for p in suite.experiments if p.kind == "SDK throttling"]
    assert throttles == ["sdk-throttling-first-dynamodb", "sdk-throttling-second-dynamodb"]


def test_a_function_fed_by_two_queues_gets_experiments_named_after_each(tmp_path: Path) -> None:
    # serverless-test-samples' apigw-sqs-lambda-sqs: WriteTestResult reads its output queue
    # and that queue's dead-letter queue. Its game day report listed two "Kill switch on
    # WriteTestResult loses no event", one passed and one deviated, and two files
    # told apart only by "-2".
    template = _write_template(
        tmp_path,
        {
            "Output": {"Type": "AWS::SQS::Queue"},
            "Dlq": {"Type": "AWS::SQS::Queue"},
            "Writer": _function(),
            "FromOutput": _mapping("Writer", "Output"),
            "FromDlq": _mapping("Writer", "Dlq"),
            "Lone": _function(),
            "LoneIn": _mapping("Lone", "Output"),
        },
    )
    suite = generate_suite(template=template, stack_name="two")
    writer = sorted(
        (p.slug, p.experiment["title"]) for p in suite.experiments if "writer" in p.slug
    )
    assert writer == [
        ("errors-writer-queue-dlq", "Errors in Writer (fed by queue Dlq) are retried or "
         "dead-lettered, none lost"),
        ("errors-writer-queue-output", "Errors in Writer (fed by queue Output) are retried or "
         "dead-lettered, none lost"),
        ("kill-switch-writer-queue-dlq", "Kill switch on Writer (fed by queue Dlq) loses no event"),
        ("kill-switch-writer-queue-output",
         "Kill switch on Writer (fed by queue Output) loses no event"),
        ("sdk-throttling-writer-dynamodb", "dynamodb throttling inside Writer loses no event"),
    ]  # fmt: skip
    lone = sorted((p.slug, p.experiment["title"]) for p in suite.experiments if "lone" in p.slug)
    assert lone[:2] == [  # one entry: the names stay as they were
        ("errors-lone-sqs", "Errors in Lone are retried or dead-lettered, none lost"),
        ("kill-switch-lone", "Kill switch on Lone loses no event"),
    ]


def test_a_dlq_consumer_is_traced_but_never_terminal(tmp_path: Path) -> None:
    # serverless-message-processing: a processor's redrive DLQ is consumed by a function
    # that fixes or parks the message. Untraced, every event it took looked lost.
    template = _write_template(
        tmp_path,
        {
            "Main": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
                        "maxReceiveCount": 3,
                    }
                },
            },
            "Dlq": {"Type": "AWS::SQS::Queue"},
            "Processor": _function(),
            "Fixer": _function(),
            "ProcessorMain": _mapping("Processor", "Main"),
            "FixerDlq": _mapping("Fixer", "Dlq"),
        },
    )
    suite = generate_suite(template=template, stack_name="dlq-consumer")
    errors = next(p for p in suite.experiments if p.slug == "errors-processor-sqs").experiment
    enabled = _enabled(errors)
    assert enabled == ["stack:Processor", "stack:Fixer"]
    assert errors["configuration"]["chaoskit_terminal_stages"] == ["stack:Processor"]


def test_a_queue_a_function_parks_events_in_is_read_like_a_dlq(tmp_path: Path) -> None:
    # The fixer sends what it cannot fix to a queue nothing in the stack consumes: the
    # events there are where the operator sees them, not lost ("stopped after Fixer").
    template = _write_template(
        tmp_path,
        {
            "In": {"Type": "AWS::SQS::Queue"},
            "Fatal": {"Type": "AWS::SQS::Queue"},
            "Fixer": _function(
                Environment={"Variables": {"FATAL": {"Ref": "Fatal"}, "BACK": {"Ref": "In"}}}
            ),
            "FixerIn": _mapping("Fixer", "In"),
        },
    )
    suite = generate_suite(template=template, stack_name="parked")
    kill = next(p for p in suite.experiments if p.slug == "kill-switch-fixer").experiment
    [wait] = [s for s in kill["method"] if s["provider"]["func"] == "wait_until_settled"]
    assert wait["provider"]["arguments"]["dlqs"] == ["stack:Fatal"]
    assert wait["provider"]["arguments"]["queues"] == ["stack:In"]


def test_unsupported_runtimes_and_unreachable_sources_are_reported_not_generated(
    tmp_path: Path,
) -> None:
    template = _write_template(
        tmp_path,
        {
            "Q": {"Type": "AWS::SQS::Queue"},
            "Table": _table("KEYS_ONLY"),
            "Old": _function("python3.9"),
            "Ruby": _function("ruby3.3"),
            "Node": _function("nodejs20.x"),
            "Streamer": _function(),
            "OldQ": _mapping("Old", "Q"),
            "RubyQ": _mapping("Ruby", "Q"),
            "NodeQ": _mapping("Node", "Q"),
            "StreamerTable": _mapping("Streamer", "Table", "dynamodb"),
        },
    )
    suite = generate_suite(template=template, stack_name="mixed")
    # Node.js carries the layer: its experiments are written (its code folder is absent).
    assert [p.slug for p in suite.experiments] == ["kill-switch-node", "errors-node-sqs"]
    notes = "\n".join(suite.uncovered)
    assert "Old: no experiment" in notes and "'python3.9'" in notes
    assert "Ruby: no experiment" in notes and "'ruby3.3'" in notes
    assert "Node: SDK throttling" not in notes
    # A KEYS_ONLY stream's records carry no item, so no trace mark reaches the function.
    assert "Streamer: its dynamodb event source Table cannot be sent to" in notes
    assert "stream view type is KEYS_ONLY" in notes


def test_a_weighted_alias_gets_a_canary_and_a_failover_pair_gets_failover(tmp_path: Path) -> None:
    template = _write_template(
        tmp_path,
        {
            "Fn": _function(),
            "V1": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
            "V2": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
            "Live": {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "FunctionVersion": {"Fn::GetAtt": ["V1", "Version"]},
                    "Name": "live",
                    "RoutingConfig": {
                        "AdditionalVersionWeights": [
                            {"FunctionVersion": "2", "FunctionWeight": 0.1}
                        ]
                    },
                },
            },
            "Zone": {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": "app.test"}},
            "Check": {
                "Type": "AWS::Route53::HealthCheck",
                "Properties": {
                    "HealthCheckConfig": {"Type": "HTTP", "FullyQualifiedDomainName": "a.test"}
                },
            },
            "Primary": {
                "Type": "AWS::Route53::RecordSet",
                "Properties": {
                    "HostedZoneId": {"Ref": "Zone"},
                    "Name": "api.app.test",
                    "Type": "CNAME",
                    "TTL": "60",
                    "SetIdentifier": "p",
                    "Failover": "PRIMARY",
                    "HealthCheckId": {"Ref": "Check"},
                    "ResourceRecords": ["a.test"],
                },
            },
            "Secondary": {
                "Type": "AWS::Route53::RecordSet",
                "Properties": {
                    "HostedZoneId": {"Ref": "Zone"},
                    "Name": "api.app.test",
                    "Type": "CNAME",
                    "TTL": "60",
                    "SetIdentifier": "s",
                    "Failover": "SECONDARY",
                    "ResourceRecords": ["b.test"],
                },
            },
        },
    )
    suite = generate_suite(template=template, stack_name="routes")
    kinds = {p.kind: p.experiment for p in suite.experiments}
    assert set(kinds) == {"canary", "failover"}
    shift = kinds["canary"]["method"][1]["provider"]["arguments"]
    assert shift == {
        "function_name": "stack:Fn",
        "alias": "stack:Live",
        "version": "2",
        "weight": 0.5,
    }
    fail = kinds["failover"]["method"][0]["provider"]["arguments"]
    assert fail == {"health_check_id": "stack:Check", "mode": "invert"}
    dns = kinds["failover"]["method"][1]["provider"]["arguments"]
    assert dns["zone"] == "stack:Zone" and dns["record_name"] == "api.app.test"
    assert dns["role"] == "secondary"
    for planned in suite.experiments:
        write_suite(suite, tmp_path / "out", force=True)
        load_experiment_file(tmp_path / "out" / f"{planned.slug}.yaml")


def test_static_analysis_finds_clients_and_resources_but_not_vendored_libraries(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text(
        "import boto3\n"
        "ddb = boto3.resource('dynamodb')\n"
        "session = boto3.session.Session()\n"
        "s3 = session.client(service_name='s3')\n"
        "unused = boto3.client('sns')\n"
        "class Store:\n"
        "    def __init__(self):\n        self.events = boto3.client('events')\n"
        "    def put(self):\n        self.events.put_events(Entries=[])\n"
        "def handler(e, c):\n"
        "    ddb.Table('t').put_item(Item={})\n    upload(s3)\n"
        "    return boto3.client('sqs', region_name='x')\n"
    )
    (tmp_path / "broken.py").write_text("def (:\n")
    vendored = tmp_path / "requests"
    vendored.mkdir()
    (vendored / "x.py").write_text("import boto3\nboto3.client('kms')\n")
    (tmp_path / "requests-2.0.dist-info").mkdir()
    assert aws_services_called(tmp_path) == ["dynamodb", "events", "s3", "sqs"]  # not sns
    assert aws_services_called(tmp_path / "missing") == []
    assert aws_services_called(None, "boto3.client('events').put_events()") == ["events"]


def test_static_analysis_reads_nodejs_sdk_clients_but_not_node_modules(tmp_path: Path) -> None:
    (tmp_path / "app.mjs").write_text(
        'import { DynamoDBClient } from "@aws-sdk/client-dynamodb";\n'
        'import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";\n'
        "const { SFNClient } = require('@aws-sdk/client-sfn');\n"
    )
    (tmp_path / "legacy.js").write_text("const AWS = require('aws-sdk');\nnew AWS.SQS({});\n")
    vendored = tmp_path / "node_modules" / "dep"
    vendored.mkdir(parents=True)
    (vendored / "index.js").write_text('require("@aws-sdk/client-kms");\n')
    assert aws_services_called_js(tmp_path) == ["dynamodb", "sqs", "stepfunctions"]
    assert services_for_runtime("nodejs22.x", tmp_path) == ["dynamodb", "sqs", "stepfunctions"]
    assert services_for_runtime("python3.12", tmp_path) == []
    assert services_for_runtime("ruby3.3", tmp_path) is None


def test_the_apps_own_sample_events_shape_the_load_and_bad_samples_are_skipped(
    tmp_path: Path,
) -> None:
    suite = generate_suite(template=APPS / "kinesis-onfailure" / "template.yaml", stack_name="k")
    good = {"AtomicNumber": 1, "Element": "Hydrogen", "Symbol": "H", "AtomicMass": 1.007}
    assert suite.samples["kinesis"] == (
        good,
        "kinesis-producer/test-records-without-poison-pill.json",
    )
    pill = next(p for p in suite.experiments if p.kind == "poison pill").experiment
    steps = {s["name"]: s["provider"].get("arguments", {}) for s in pill["method"]}
    assert steps["send-good-records"]["payload"] == good
    assert steps["send-a-poison-pill"]["payload"] == {**good, "chaoskit_poison_pill": True}
    # The SQS sample's body is plain text, not a JSON object: no payload is guessed.
    sqs = generate_suite(template=APPS / "sqs-dlq" / "template.yaml", stack_name="s")
    assert sqs.samples == {}
    errors = next(p for p in sqs.experiments if p.kind == "errors").experiment
    assert "payload" not in errors["method"][3]["provider"]["arguments"]


def test_the_template_sam_build_wrote_finds_the_apps_sample_events(tmp_path: Path) -> None:
    # sam build writes app/.aws-sam/build/template.yaml; the app's sample events stay in
    # app/events. Looked for beside the built template, none was found, and every record
    # carried the table's keys instead of the "batch" and "id" the consumer reads.
    data = {"batch": "b-1", "id": "i-1"}
    record = {
        "eventSource": "aws:kinesis",
        "kinesis": {"data": base64.b64encode(json.dumps(data).encode()).decode()},
    }
    (tmp_path / "app" / "events").mkdir(parents=True)
    (tmp_path / "app" / "events" / "sample.json").write_text(json.dumps({"Records": [record]}))
    built = tmp_path / "app" / ".aws-sam" / "build" / "template.json"
    built.parent.mkdir(parents=True)
    _write_template(
        tmp_path,
        {
            "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
            "Consumer": _function(),
            "ConsumerStream": _mapping("Consumer", "Stream", "kinesis"),
        },
    ).rename(built)
    suite = generate_suite(template=built)
    assert suite.samples["kinesis"] == (data, "events/sample.json")
    assert suite.stack == "app"


def test_uuids_in_a_sample_event_are_drawn_afresh_for_each_event(tmp_path: Path) -> None:
    # A stream consumer batch-writes items keyed by the record's "batch" and "id": 40
    # copies of one sample made every batch of them a duplicate-key BatchWriteItem, which
    # DynamoDB rejects (serverless-test-samples' kinesis-lambda-dynamodb).
    data = {
        "batch": "e04c537a-7177-4254-afae-594470849a2d",
        "id": "2734E753-6330-4658-B0D7-A9BCDE4FD3A5",
        "batchsequence": 0,
        "tags": ["2734e753-6330-4658-b0d7-a9bcde4fd3a5", "not-a-uuid"],
        "nested": {"ref": "order-2734e753-6330-4658-b0d7-a9bcde4fd3a5"},
    }
    record = {
        "eventSource": "aws:kinesis",
        "kinesis": {"data": base64.b64encode(json.dumps(data).encode()).decode()},
    }
    (tmp_path / "app" / "events").mkdir(parents=True)
    (tmp_path / "app" / "events" / "sample.json").write_text(json.dumps({"Records": [record]}))
    template = _write_template(
        tmp_path,
        {
            "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
            "Consumer": _function(),
            "ConsumerStream": _mapping("Consumer", "Stream", "kinesis"),
        },
    )
    suite = generate_suite(template=template, stack_name="k")
    fresh = {
        **data,
        "batch": "{{uuid}}",
        "id": "{{uuid}}",
        "tags": ["{{uuid}}", "not-a-uuid"],  # only a whole value that is a UUID
    }
    assert suite.samples["kinesis"] == (fresh, "events/sample.json")
    assert (
        "sample kinesis payload: events/sample.json (each event draws its own batch, id, "
        "tags[0]: UUIDs in the sample)" in suite.found
    )
    errors = next(p for p in suite.experiments if p.kind == "errors").experiment
    send = next(s for s in errors["method"] if s["provider"].get("func") == "send_events")
    assert send["provider"]["arguments"]["payload"] == fresh


def test_asynchronous_entries_wait_for_retries_and_streams_for_blocked_records() -> None:
    sns = generate_suite(template=APPS / "sns-async" / "template.yaml", stack_name="s")
    (errors,) = sns.experiments
    assert errors.experiment["configuration"]["retry_grace"] == 200
    settle = errors.experiment["method"][-1]["provider"]["arguments"]
    assert settle["retry_grace"] == "${retry_grace}"
    kinesis = generate_suite(template=APPS / "kinesis-onfailure" / "template.yaml", stack_name="k")
    kill = next(p for p in kinesis.experiments if p.kind == "kill switch").experiment
    assert kill["method"][-1]["provider"]["arguments"]["quiet_seconds"] == 30
    assert "retry_grace" not in kill["configuration"]


def test_a_scheduled_function_is_invoked_asynchronously_and_its_dlq_read() -> None:
    suite = generate_suite(template=APPS / "scheduler-async-dlq" / "template.yaml", stack_name="s")
    (errors,) = suite.experiments
    send = errors.experiment["method"][3]["provider"]["arguments"]
    assert send["target_type"] == "lambda" and send["invocation_type"] == "Event"
    assert send["target"] == "stack:ScheduledFunction"
    settle = errors.experiment["method"][-1]["provider"]["arguments"]
    assert settle["dlqs"] == ["stack:LambdaExecutionDLQ"]
    assert "then sends it to its DLQ LambdaExecutionDLQ" in errors.experiment["description"]
    assert "Expect a deviation" not in errors.experiment["description"]


def test_a_dynamodb_stream_consumer_is_fed_by_writes_to_its_table(tmp_path: Path) -> None:
    suite = generate_suite(template=APPS / "dynamodb-stream" / "template.yaml", stack_name="d")
    found = "\n".join(suite.found)
    assert "function ConsumerFunction (python3.13): table DynamoDBTable's stream" in found
    by_kind = {p.kind: p.experiment for p in suite.experiments}
    for experiment in by_kind.values():
        sends = [s for s in experiment["method"] if s["provider"].get("func") == "send_events"]
        assert sends and all(
            s["provider"]["arguments"]["target_type"] == "dynamodb"
            and s["provider"]["arguments"]["target"] == "stack:DynamoDBTable"
            for s in sends
        )
        settle = experiment["method"][-1]
        assert settle["provider"]["arguments"]["quiet_seconds"] == 30
        assert settle["provider"]["arguments"]["queues"] == []
    kill = by_kind["kill switch"]["method"]
    assert [s["name"] for s in kill][1:3] == [
        "stop-the-function",
        "send-to-the-dynamodb-while-stopped",
    ]
    # No bisection and no on-failure destination, but retried until the records expire:
    # an error that passes is absorbed, a record that fails every time holds its shard
    # and is then lost.
    assert "Expect a deviation" not in by_kind["errors"]["description"]
    pill = by_kind["poison pill"]
    text = pill["description"]
    assert "retries a failed batch until the records expire, whole (no bisection)" in text
    assert "Expect a deviation: a record that fails every time holds its batch" in text
    assert "failure destination;" not in text  # it has none to end in
    proves = {p.kind: p.proves for p in suite.experiments}
    assert proves["poison pill"].startswith("whether a poison pill")
    assert proves["errors"].startswith("failures of ConsumerFunction")
    # The verdict is read while the pill still fails: only the rollback clears the fault.
    assert "clear_faults" not in [s["provider"].get("func") for s in pill["method"]]
    assert pill["rollbacks"][0]["provider"]["func"] == "rollback_current_run"


def test_a_dynamodb_sample_event_shapes_the_items_but_never_pins_the_tables_key(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "app"
    (folder / "events").mkdir(parents=True)
    image = {
        "pk": {"S": "customer-1"},
        "sk": {"N": "7"},
        "order": {"M": {"amount": {"N": "12.5"}, "items": {"L": [{"S": "book"}]}}},
        "paid": {"BOOL": True},
    }
    record = {"eventSource": "aws:dynamodb", "eventName": "INSERT", "dynamodb": {"NewImage": image}}
    (folder / "events" / "insert.json").write_text(json.dumps({"Records": [record]}))
    template = _write_template(
        tmp_path,
        {
            "Table": _table("NEW_AND_OLD_IMAGES", ("pk", "S"), ("sk", "N")),
            "Streamer": _function(),
            "StreamerTable": _mapping("Streamer", "Table", "dynamodb"),
        },
    )
    suite = generate_suite(template=template, stack_name="d")
    payload = {"order": {"amount": 12.5, "items": ["book"]}, "paid": True}
    assert suite.samples["dynamodb"] == (
        {**payload, "pk": "customer-1", "sk": 7},
        "events/insert.json",
    )
    errors = next(p for p in suite.experiments if p.kind == "errors").experiment
    send = next(s for s in errors["method"] if s["provider"].get("func") == "send_events")
    # send_events fills the key from each event's id, so every event is its own item.
    assert send["provider"]["arguments"]["payload"] == payload


def test_a_functions_clients_are_read_from_its_handlers_module_and_what_it_imports(
    tmp_path: Path,
) -> None:
    (tmp_path / "producer.py").write_text("import boto3\nboto3.client('sqs').send_message()\n")
    (tmp_path / "consumer.py").write_text(
        "import json\nfrom shop import store\nfrom shop.audit import log\n"
        "def handler(e, c):\n    store.put(e)\n"
    )
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "store.py").write_text(
        "import boto3\nfrom . import keys\nT = boto3.resource('dynamodb')\n"
        "def put(e):\n    T.Table(keys.NAME).put_item(Item=e)\n"
    )
    (tmp_path / "shop" / "keys.py").write_text(
        "import boto3\nS = boto3.client('ssm')\nS.get_parameter()\n"
    )
    (tmp_path / "shop" / "audit.py").write_text(
        "import boto3\nL = boto3.client('logs')\ndef log(x):\n    L.put_log_events()\n"
    )
    (tmp_path / "shop" / "unused.py").write_text("import boto3\nboto3.client('kms').encrypt()\n")
    assert aws_services_called(tmp_path, handler="consumer.handler") == ["dynamodb", "logs", "ssm"]
    assert aws_services_called(tmp_path, handler="producer.handler") == ["sqs"]
    assert services_for_runtime("python3.12", tmp_path, None, "shop.store.put") == [
        "dynamodb",
        "ssm",
    ]
    # A handler whose module is not in the folder (a layer's, a typo): the whole folder.
    everything = ["dynamodb", "kms", "logs", "sqs", "ssm"]
    assert aws_services_called(tmp_path, handler="missing.handler") == everything
    assert aws_services_called(tmp_path) == everything


def test_a_stream_with_few_retries_and_no_destination_is_expected_to_lose_failed_batches(
    tmp_path: Path,
) -> None:
    mapping = _mapping("Streamer", "Table", "dynamodb")
    mapping["Properties"]["MaximumRetryAttempts"] = 2
    template = _write_template(
        tmp_path,
        {
            "Table": _table("NEW_IMAGE"),
            "Streamer": _function(),
            "StreamerTable": mapping,
        },
    )
    suite = generate_suite(template=template, stack_name="d")
    by_kind = {p.kind: p.experiment["description"] for p in suite.experiments}
    lost = (
        "Expect a deviation: a batch that keeps failing is skipped with no on-failure destination"
    )
    assert lost in by_kind["errors"] and lost in by_kind["poison pill"]
    assert "retries a failed batch 2 times" in by_kind["errors"]


def test_a_function_with_destinations_but_no_source_is_invoked_and_traced_to_its_successor() -> (
    None
):
    # Invoked asynchronously from outside the stack: its EventInvokeConfig is the only sign.
    suite = generate_suite(template=APPS / "lambda-destinations" / "template.yaml", stack_name="d")
    found = "\n".join(suite.found)
    assert (
        "function MainLambdaFunction (nodejs24.x): asynchronous invoke "
        "(from outside the stack, as its EventInvokeConfig expects)" in found
    )
    assert "asynchronous invoke (as lambda-destination does)" in found
    by_slug = {p.slug: p.experiment for p in suite.experiments}
    main = by_slug["errors-mainlambdafunction-lambda"]
    # What Main processed goes on to its on-success destination: traced there, and last.
    assert _enabled(main) == ["stack:MainLambdaFunction", "stack:OnSuccessLambdaFunction"]
    assert main["configuration"]["chaoskit_terminal_stages"] == ["stack:OnSuccessLambdaFunction"]
    send = next(s for s in main["method"] if s["provider"].get("func") == "send_events")
    assert send["provider"]["arguments"]["target"] == "stack:MainLambdaFunction"
    assert send["provider"]["arguments"]["invocation_type"] == "Event"
    assert main["method"][-1]["provider"]["arguments"]["dlqs"] == ["stack:OnFailureSqsQueue"]
    assert "Expect a deviation" not in main["description"]
    # The successor has no destination of its own: an event failing every attempt there
    # is dropped, which a burst of errors ending before the retries does not show.
    successor = by_slug["errors-onsuccesslambdafunction-lambda"]["description"]
    assert "Expect a deviation" not in successor and "Not shown here" in successor


def test_a_function_with_only_a_dlq_is_invoked_asynchronously(tmp_path: Path) -> None:
    template = _write_template(
        tmp_path,
        {
            "Dlq": {"Type": "AWS::SQS::Queue"},
            "Fn": _function(DeadLetterConfig={"TargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}}),
            "Plain": _function(),
        },
    )
    suite = generate_suite(template=template, stack_name="d")
    assert [p.slug for p in suite.experiments] == ["errors-fn-lambda", "sdk-throttling-fn-dynamodb"]
    errors = suite.experiments[0]
    assert errors.experiment["method"][-1]["provider"]["arguments"]["dlqs"] == ["stack:Dlq"]
    assert "as its DLQ expects" in "\n".join(suite.found)
    assert "Plain: no event source in the stack that chaoskit can send through" in (
        "\n".join(suite.uncovered)
    )


@pytest.mark.parametrize(
    ("target", "covered"),
    [
        ({}, True),
        ({"InputPath": "$.detail"}, True),
        ({"InputPath": "$.detail.order"}, False),
        ({"Input": '{"kind": "nightly"}'}, False),
        (
            {"InputTransformer": {"InputPathsMap": {"d": "$.detail"},
                                  "InputTemplate": '{"order": <d>}'}},
            True,
        ),
        (
            {"InputTransformer": {"InputPathsMap": {"id": "$.id", "d": "$.detail"},
                                  "InputTemplate": '{"id": <id>}'}},
            False,
        ),
        ({"InputTransformer": {"InputTemplate": "<aws.events.event.json>"}}, True),
    ],
)  # fmt: skip
def test_a_rule_target_that_leaves_the_event_out_of_what_it_passes_is_not_sent_through(
    tmp_path: Path, target: dict[str, Any], covered: bool
) -> None:
    # The mark is in the event's detail: a constant Input, or a transformer that does not
    # place the detail, hands the function events the ledger cannot trace: every one sent
    # would count lost on a healthy app. The function is then invoked asynchronously, as
    # the rule invokes it (the same retry path), with the events themselves.
    rule = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "EventPattern": {"source": ["shop.orders"]},
            "Targets": [{"Id": "fn", "Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, **target}],
        },
    }
    path = _write_template(tmp_path, {"Fn": _function(), "Placed": rule})
    topo = load_template(path)
    (entry,), notes = entries_of(topo, topo.functions["Fn"])
    assert entry.send["target_type"] == ("eventbridge" if covered else "lambda")
    assert len([n for n in notes if "trace mark never reaches it" in n]) == (not covered)


@pytest.mark.parametrize("receives", [1, 5])
def test_a_kill_switch_on_a_queue_with_few_receives_expects_dead_letters(
    tmp_path: Path, receives: int
) -> None:
    # An event source mapping keeps receiving from a stopped function's queue, and each
    # throttled receive counts: with maxReceiveCount 1 a public app's kill switch
    # dead-lettered all 10 events unprocessed. The description says so beforehand.
    redrive = {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": receives}
    resources = {
        "In": {"Type": "AWS::SQS::Queue", "Properties": {"RedrivePolicy": redrive}},
        "Dlq": {"Type": "AWS::SQS::Queue"},
        "Fn": _function(),
        "Mapping": _mapping("Fn", "In"),
    }
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    kill = next(p.experiment for p in suite.experiments if p.kind == "kill switch")
    expected = (
        f"each receive counts toward maxReceiveCount ({receives}): expect events "
        "dead-lettered without being processed (AWS advises at least 5)"
    )
    assert (expected in kill["description"]) is (receives < 5), kill["description"]


@pytest.mark.parametrize(("visibility", "settle"), [(None, 300), (60, 300), (300, 480)])
def test_the_settle_wait_outlasts_the_queues_visibility_timeout(
    tmp_path: Path, visibility: int | None, settle: int
) -> None:
    # aws-samples/serverless-patterns apigw-http-api-fifo-sqs-lambda-sns-sam: visibility
    # timeout 300 s. A message received while the function was stopped, or failed by the
    # fault, is back 300 s later; the wait was 300 s, so the kill switch settled with 4 s
    # to spare, and a slower machine would have called its events in flight.
    queue: dict[str, Any] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    if visibility is not None:
        queue["Properties"]["VisibilityTimeout"] = visibility
    resources = {"In": queue, "Fn": _function(), "Mapping": _mapping("Fn", "In")}
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    waits = {p.kind: p.experiment["configuration"]["settle_timeout"] for p in suite.experiments}
    assert waits == {"kill switch": settle, "errors": settle, "SDK throttling": settle}


def _loads(suite: Any) -> dict[str, Any]:
    out = {}
    for planned in suite.experiments:
        send = next(
            s for s in planned.experiment["method"] if s["provider"].get("func") == "send_events"
        )
        out[planned.kind] = send["provider"]["arguments"].get("payload")
    return out


def test_the_load_carries_the_key_of_a_table_the_function_stores_messages_in(
    tmp_path: Path,
) -> None:
    # aws-samples/serverless-patterns sqs-lambda-ddb-sam-ts and apigw-sqs-lambda-ddb put
    # each message body into a table as an item: without the table's key every event was
    # rejected (ValidationException), and every experiment was inconclusive.
    resources = {
        "In": {"Type": "AWS::SQS::Queue"},
        "Items": _table("KEYS_ONLY", ("pk", "S"), ("sk", "S")),
        "Counters": _table("KEYS_ONLY", ("n", "N")),  # a number key: no event id fills it
        "Fn": _function(
            Environment={"Variables": {"T": {"Ref": "Items"}, "C": {"Ref": "Counters"}}}
        ),
        "Mapping": _mapping("Fn", "In"),
    }
    template = _write_template(tmp_path, resources)
    suite = generate_suite(template=template, stack_name="s")
    key = {"pk": "{{event_id}}", "sk": "{{event_id}}"}
    assert _loads(suite) == {"kill switch": key, "errors": key, "SDK throttling": key}
    errors = next(p.experiment for p in suite.experiments if p.kind == "errors")
    assert "Each event carries pk, sk (table Items's key), set to its event id" in " ".join(
        errors["description"].split()
    )
    # The app's own sample event says what its messages look like: it wins.
    samples = tmp_path / "app" / "events"
    samples.mkdir()
    (samples / "sqs.json").write_text(
        json.dumps({"Records": [{"eventSource": "aws:sqs", "body": '{"order": 7}'}]})
    )
    suite = generate_suite(template=template, stack_name="s")
    assert _loads(suite)["errors"] == {"order": 7}
    # A function that names no table: the load is as before.
    (samples / "sqs.json").unlink()
    del resources["Fn"]["Properties"]["Environment"]
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    assert list(_loads(suite).values()) == [None, None, None]


@pytest.mark.parametrize("cdk", [False, True])
def test_a_table_the_functions_role_lets_it_put_items_in_counts_too(
    tmp_path: Path, cdk: bool
) -> None:
    # aws-samples/serverless-patterns apigw-sqs-lambda-ddb: the handler writes each body
    # to a table it names in its code ("EventTable"); only its role says which table.
    put = {"Effect": "Allow", "Action": ["dynamodb:Get*", "dynamodb:PutItem"],
           "Resource": {"Fn::GetAtt": ["Events", "Arn"]}}  # fmt: skip
    read = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Ref": "Other"}}
    document = {"Version": "2012-10-17", "Statement": [put, read]}
    role: dict[str, Any] = {"Type": "AWS::IAM::Role", "Properties": {}}
    resources = {
        "In": {"Type": "AWS::SQS::Queue"},
        "Events": _table("KEYS_ONLY", ("eventId", "S")),
        "Other": _table("KEYS_ONLY", ("other", "S")),
        "Role": role,
        "Fn": _function(Role={"Fn::GetAtt": ["Role", "Arn"]}),
        "Mapping": _mapping("Fn", "In"),
    }
    if cdk:  # CDK attaches a role's statements through a policy resource of their own
        resources["Policy"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {"PolicyDocument": document, "Roles": [{"Ref": "Role"}]},
        }
    else:
        role["Properties"]["Policies"] = [{"PolicyName": "p", "PolicyDocument": document}]
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    assert _loads(suite)["errors"] == {"eventId": "{{event_id}}"}


def test_a_codeuri_naming_one_file_is_read_like_a_folder(tmp_path: Path) -> None:
    # aws-samples/serverless-patterns cloudtrail-eventbridge-lambda-dynamodb-sam:
    # CodeUri: src/function.py. init said "its code uses no AWS SDK client" of a handler
    # that creates ec2, dynamodb and sns clients, and wrote no SDK throttling experiment.
    (tmp_path / "src").mkdir()
    code = tmp_path / "src" / "function.py"
    code.write_text(
        "import boto3\nec2 = boto3.client('ec2')\nddb = boto3.resource('dynamodb')\n"
        "def lambda_handler(event, context):\n    ddb.Table('t').get_item(Key={})\n"
        "    ec2.withdraw_byoip_cidr(Cidr=event['cidr'])\n"
    )
    assert aws_services_called(code, handler="function.lambda_handler") == ["dynamodb", "ec2"]
    assert aws_services_called(tmp_path / "src" / "gone.py") == []
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: src/function.py\n      Handler: function.lambda_handler\n"
        "      Runtime: python3.12\n"
        "      Events: {FromQ: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}}\n"
    )
    suite = generate_suite(template=template, stack_name="s")
    assert "  its code calls: dynamodb, ec2" in suite.found, suite.found
    assert any(p.kind == "SDK throttling" for p in suite.experiments)


def test_a_stream_consumers_own_dlq_is_said_not_to_catch_its_records(tmp_path: Path) -> None:
    # apigw-kinesis-lambda-ddb: the consumer's DeadLetterQueue, used by Lambda for
    # asynchronous invocations only, is no on-failure destination for its stream.
    def suite(dlq: bool) -> dict[str, str]:
        fn = (
            _function(DeadLetterConfig={"TargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}})
            if dlq
            else _function()
        )
        template = _write_template(tmp_path / str(dlq), {
            "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
            "Dlq": {"Type": "AWS::SQS::Queue"},
            "Consumer": fn,
            "ConsumerStream": _mapping("Consumer", "Stream", "kinesis"),
        })  # fmt: skip
        return {
            p.slug: p.experiment["description"]
            for p in generate_suite(template=template).experiments
        }

    errors = next(d for slug, d in suite(True).items() if slug.startswith("errors-"))
    assert "dead-letter queue, Dlq, gets only asynchronous invocations' events" in errors
    plain = next(d for slug, d in suite(False).items() if slug.startswith("errors-"))
    assert "dead-letter queue" not in plain

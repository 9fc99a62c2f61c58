"""Generated events pass the filters on the way to a function, by AWS's rules as moto has them.

An event source mapping's ``FilterCriteria`` and an SNS subscription's filter policy
decide, by each event's content, which reach the function; what they drop never does
(Lambda deletes a dropped SQS message). The suite must send events they let through, or
its ledger counts every one lost. Each record here is built the way the event arrives
(the SQS body, the Kinesis data, the DynamoDB item ``send_events`` writes, with the
``chaoskit`` mark) and checked with moto's EventBridge pattern matcher, which implements
the same filter rules Lambda's filtering uses; SNS policies with moto's own SNS matcher.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from chaoskit import aws, envvars
from chaoskit.faults._table_items import to_item
from chaoskit.faults.load import send_events
from chaoskit.suite import generate_suite
from chaoskit.suite.patterns import policy_example, record_example
from tests.suite.test_suite_plan import _function, _mapping, _table, _write_template

APPS = Path(__file__).resolve().parents[1] / "apps"
MARK = {"run_id": "r", "event_id": "e0", "sent_at": 1.0}


def _filtered(function: str, source: str, pattern: Any, kind: str = "sqs") -> dict[str, Any]:
    """A mapping of ``source`` to ``function`` through the filter ``pattern``."""
    mapping = _mapping(function, source, kind)
    text = pattern if isinstance(pattern, str) else json.dumps(pattern)
    mapping["Properties"]["FilterCriteria"] = {"Filters": [{"Pattern": text}]}
    return mapping


def _load(experiment: dict[str, Any]) -> dict[str, Any]:
    """Return the arguments of an experiment's send_events step."""
    method = experiment["method"]
    return next(s for s in method if s["provider"].get("func") == "send_events")["provider"][
        "arguments"
    ]


#: Filters of tests/apps/sqs-filters (SQS) and of the same authors' Kinesis and DynamoDB
#: patterns (lambda-esm-kinesis-filters-sam, lambda-esm-ddb-filters-sam), plus the rest of
#: what the rules allow.
SQS = [
    [{"body": {"region": [{"prefix": "us-"}]}}],
    [{"body": {"address": {"state": [{"anything-but": "GA"}]}}}],
    [{"body": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}],
    [
        {
            "body": {
                "rating": [{"numeric": [">", 0, "<=", 5]}],
                "address": {"country": ["USA"], "street": [{"exists": True}]},
            }
        }
    ],
    [
        {"body": {"rating": [4, 5]}},
        {"body": {"fileName": ["metadata.txt"]}},
    ],
    [{"messageAttributes": {"kind": {"stringValue": ["x"]}}}, {"body": {"kind": ["order"]}}],
    [{"body": {"retry": [{"exists": False}], "kind": [{"equals-ignore-case": "ORDER"}]}}],
]
KINESIS = [
    [{"data": {"kind": ["Event"]}}],
    [{"data": {"kind": ["Event"], "responseStatus": {"code": [{"numeric": ["=", 300]}]}}}],
    [{"data": {"responseStatus": {"code": [{"numeric": [">=", 300, "<=", 350]}]}}}],
    [{"data": {"kind": [{"anything-but": ["Event"]}]}}],
    [{"data": {"kind": [{"suffix": "-created"}], "$or": [{"n": [1]}, {"m": [2]}]}}],
]
DYNAMODB = [
    [{"dynamodb": {"NewImage": {"kind": {"S": ["Event"]}}}}],
    [
        {
            "dynamodb": {
                "NewImage": {
                    "kind": {"S": ["Event"]},
                    "responseStatus": {"M": {"code": {"N": ["300"]}}},
                }
            }
        }
    ],
    [
        {"dynamodb": {"OldImage": {"RBAC": {"BOOL": [True]}}}},
        {"dynamodb": {"NewImage": {"RBAC": {"BOOL": [True]}}}},
    ],
    [{"dynamodb": {"NewImage": {"region": {"S": [{"prefix": "us-"}]}}}}],
    [{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"price": {"N": ["12.5"]}}}}],
    [{"eventName": [{"prefix": "INS"}]}, {"eventName": [{"anything-but": ["REMOVE"]}]}],
    [{"dynamodb": {"NewImage": {"kind": {"S": [{"exists": True}]}, "gone": [{"exists": False}]}}}],
]
NOT_COVERED = [
    ("sqs", [{"messageAttributes": {"kind": {"stringValue": ["x"]}}}]),  # not the load's
    ("sqs", [{"body": ["plain text"]}]),  # the load sends JSON objects
    ("kinesis", [{"data": {"ip": [{"cidr": "not-a-network"}]}}]),
    # AWS documents Kinesis filters on data only (LocalStack matches partitionKey to nothing).
    ("kinesis", [{"data": {"kind": ["Event"]}, "partitionKey": ["code-is-300"]}]),
    # Each event writes its own item: a filter on the key, or on a MODIFY, never passes.
    ("dynamodb", [{"eventName": ["INSERT"], "dynamodb": {"Keys": {"id": {"S": ["a"]}}}}]),
    ("dynamodb", [{"dynamodb": {"NewImage": {"id": {"S": ["pinned"]}}}}]),
    ("dynamodb", [{"eventName": ["MODIFY"]}]),
    ("dynamodb", [{"eventName": [{"anything-but": ["INSERT", "MODIFY"]}]}]),
    # The record holds numbers as text: a numeric range never matches them (AWS-recorded:
    # LocalStack's test_dynamodb_event_filter[numeric_filter], replayed in
    # tests/e2e/test_conformance_aws_recorded.py, as are the two cases without a type).
    ("dynamodb", [{"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 1]}]}}}}]),
    ("dynamodb", [{"dynamodb": {"NewImage": {"tags": {"SS": ["a"]}}}}]),
    # Without the type, a filter names the attribute's map: AWS never matches a value there.
    ("dynamodb", [{"dynamodb": {"NewImage": {"kind": ["Event"]}}}]),
    ("dynamodb", [{"dynamodb": {"NewImage": {"kind": [{"exists": True}]}}}]),
    ("sqs", [{"body": {"chaoskit": ["x"]}}]),  # chaoskit's own mark would break it
]


def _matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(record))


def _any_matches(patterns: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    return any(_matches(p, record) for p in patterns)


@pytest.mark.parametrize("patterns", SQS, ids=lambda p: json.dumps(p)[:70])
def test_an_sqs_message_the_load_sends_passes_the_mappings_filters(patterns: list[Any]) -> None:
    found = record_example("sqs", patterns)
    assert found is not None, patterns
    # Lambda matches a JSON body as an object: the record's other fields are AWS's own.
    record = {"messageId": "1", "body": {**found.payload, "chaoskit": MARK}, "attributes": {}}
    assert _any_matches(patterns, record), found


@pytest.mark.parametrize("patterns", KINESIS, ids=lambda p: json.dumps(p)[:70])
def test_a_kinesis_record_the_load_puts_passes_the_mappings_filters(patterns: list[Any]) -> None:
    found = record_example("kinesis", patterns)
    assert found is not None, patterns
    record = {"partitionKey": "e0", "data": {**found.payload, "chaoskit": MARK}}
    assert _any_matches(patterns, record), found


@pytest.mark.parametrize("patterns", DYNAMODB, ids=lambda p: json.dumps(p)[:70])
def test_a_table_write_of_the_load_passes_its_streams_filters(patterns: list[Any]) -> None:
    found = record_example("dynamodb", patterns, item_keys=["id"])
    assert found is not None, patterns
    # The item exactly as send_events writes it: the key from the event id, then the payload.
    item = to_item({**found.payload, "chaoskit": MARK}, "e0", {"id": "S"})
    image = json.loads(json.dumps(item, default=str))  # Decimal -> text, as the record has it
    record = {"eventName": "INSERT", "dynamodb": {"Keys": {"id": item["id"]}, "NewImage": image}}
    assert _any_matches(patterns, record), (found, record)


def test_the_matcher_says_no_to_a_record_the_filter_drops() -> None:
    (pattern,) = DYNAMODB[1]
    found = record_example("dynamodb", [pattern])
    assert found is not None
    item = to_item({**found.payload, "responseStatus": {"code": 301}}, "e0", {"id": "S"})
    image = json.loads(json.dumps(item, default=str))
    assert not _matches(pattern, {"eventName": "INSERT", "dynamodb": {"NewImage": image}})


@pytest.mark.parametrize("kind, patterns", NOT_COVERED, ids=lambda p: json.dumps(p)[:60])
def test_a_filter_no_generated_event_is_sure_to_pass_gives_none(
    kind: str, patterns: list[Any]
) -> None:
    assert record_example(kind, patterns, item_keys=["id"]) is None


POLICIES = [
    ({"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}]}, None),
    ({"event": [{"anything-but": "order_cancelled"}], "trial": [{"exists": False}]}, None),
    ({"customer_interests": ["rugby", "football"]}, "MessageAttributes"),
    ({"order": {"kind": [{"prefix": "sale-"}]}, "total": [{"numeric": ["<", 10]}]}, "MessageBody"),
]


@pytest.mark.parametrize("policy, scope", POLICIES, ids=lambda p: json.dumps(p)[:60])
def test_sns_delivers_what_the_load_publishes_past_a_subscriptions_filter_policy(
    policy: dict[str, Any],
    scope: str | None,
    aws_env: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto's SNS applies the policy: a queue subscribed through it receives what passes.
    monkeypatch.setenv(envvars.HOME, str(tmp_path / "home"))
    configuration = {**aws_env, "chaoskit_run_id": "filters"}
    found = policy_example(policy, scope)
    assert found is not None, policy
    sns, sqs = aws.client("sns", configuration), aws.client("sqs", configuration)
    topic = sns.create_topic(Name="orders")["TopicArn"]
    url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    attributes = {"FilterPolicy": json.dumps(policy)}
    if scope:
        attributes["FilterPolicyScope"] = scope
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"], Attributes=attributes)
    sent = send_events(
        "sns", "orders", count=3, payload=found.payload, configuration=configuration,
        **found.send,
    )  # fmt: skip
    assert sent["sent"] == 3
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 3
    # And the same load without what the policy needs is dropped: the policy filters.
    send_events("sns", "orders", count=2, configuration=configuration)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)


def test_a_policy_on_attributes_that_cannot_be_sent_gives_none() -> None:
    assert policy_example({"nested": {"a": ["b"]}}) is None  # attributes are flat
    assert policy_example({"flag": [True]}) is None  # no boolean attribute type
    assert policy_example({"ip": [{"cidr": "10.0.0.0/8"}]}, "Weird") is None


def test_init_sends_what_each_sqs_filter_lets_through_and_reports_what_none_can(
    tmp_path: Path,
) -> None:
    suite = generate_suite(template=APPS / "sqs-filters" / "template.yaml", stack_name="f")
    payloads = {}
    for planned in suite.experiments:
        if planned.kind != "errors":
            continue
        load = _load(planned.experiment)
        payloads[load["target"]] = load.get("payload")
    assert payloads == {
        "stack:EsmSqsFilterQueueNoFilter": None,
        "stack:EsmSqsFilterQueuePrefix": {"region": "us-"},
        "stack:EsmSqsFilterQueueAnythingBut": {"address": {"state": "chaoskit"}},
        "stack:EsmSqsFilterQueueIP": {"sourceIPAddress": "10.0.0.1"},
        "stack:EsmSqsFilterQueueAnd": {
            "rating": 2.5,
            "address": {"country": "USA", "street": "chaoskit"},
        },
        "stack:EsmSqsFilterQueueOr": {"rating": 4},
    }
    assert any("EsmSqsFilterQueueOr: its FilterCriteria lets through" in f for f in suite.found)
    # Each experiment says so too, where a user editing its payload reads.
    ip = next(p for p in suite.experiments if p.slug == "kill-switch-esmsqsfilterfunctionip")
    assert (
        'On the way, its FilterCriteria lets through events with payload {"sourceIPAddress": '
        '"10.0.0.1"}: the load carries that, and an edited payload must keep it'
    ) in ip.experiment["description"]


def test_a_sample_does_not_fill_a_field_the_filter_wants_missing(tmp_path: Path) -> None:
    events = tmp_path / "app" / "events"
    events.mkdir(parents=True)
    record = {"eventSource": "aws:sqs", "body": json.dumps({"kind": "x", "retry": 1, "n": 2})}
    (events / "sqs.json").write_text(json.dumps({"Records": [record]}))
    pattern = {"body": {"retry": [{"exists": False}], "kind": ["order"]}}
    resources = {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Fn": _function(),
        "Mapping": _filtered("Fn", "Queue", pattern),
    }
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    errors = next(p for p in suite.experiments if p.kind == "errors").experiment
    # The sample's shape is kept, its kind overridden, its retry dropped.
    assert _load(errors)["payload"] == {"kind": "order", "n": 2}


def test_events_are_not_followed_through_a_filter_between_two_stages(tmp_path: Path) -> None:
    # First writes to a queue whose mapping to Second filters on the content: which of
    # First's events pass is the app's data, so First is the stage events must reach.
    resources = {
        "In": {"Type": "AWS::SQS::Queue"},
        "Between": {"Type": "AWS::SQS::Queue"},
        "First": _function(Environment={"Variables": {"NEXT": {"Ref": "Between"}}}),
        "Second": _function(),
        "InMapping": _mapping("First", "In"),
        "BetweenMapping": _filtered("Second", "Between", '{"body": {"urgent": [true]}}'),
    }
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    assert _traced(suite, "errors-first") == (["stack:First"], ["stack:First"])
    assert any(
        "Second: fed by First through a filter on Between" in note for note in suite.uncovered
    )
    # Without the filter, Second is where First's events must end.
    del resources["BetweenMapping"]["Properties"]["FilterCriteria"]
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    assert _traced(suite, "errors-first") == (["stack:First", "stack:Second"], ["stack:Second"])


def _yaml_suite(tmp_path: Path, resources: str) -> Any:
    """Generate the suite of a SAM template made of ``resources`` (YAML text), in app/."""
    template = tmp_path / "app" / "template.yaml"
    template.parent.mkdir(parents=True, exist_ok=True)
    template.write_text("Transform: AWS::Serverless-2016-10-31" + resources)
    return generate_suite(template=template, stack_name="s")


def _traced(suite: Any, slug: str) -> tuple[list[str], list[str]]:
    """Return (the functions an experiment traces, its terminal stages)."""
    experiment = next(p.experiment for p in suite.experiments if p.slug.startswith(slug))
    enabled = [
        s["provider"]["arguments"]["function_name"]
        for s in experiment["method"]
        if s["provider"].get("func") == "enable_chaoskit_layer"
    ]
    return enabled, experiment["configuration"]["chaoskit_terminal_stages"]


def test_a_lambda_subscribed_through_a_filter_policy_gets_the_attributes_it_needs(
    tmp_path: Path,
) -> None:
    suite = _yaml_suite(
        tmp_path,
        """
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      InlineCode: "def handler(event, context):\\n    return None\\n"
      Events:
        Orders:
          Type: SNS
          Properties:
            Topic: !Ref Topic
            FilterPolicy:
              kind: [order]
              total: [{numeric: [">", 100]}]
  Bodies:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      InlineCode: "def handler(event, context):\\n    return None\\n"
      Events:
        Refunds:
          Type: SNS
          Properties:
            Topic: !Ref Topic
            FilterPolicyScope: MessageBody
            FilterPolicy: '{"refund": {"reason": [{"prefix": "damaged"}]}}'
""",
    )
    sends = {planned.slug: _load(planned.experiment) for planned in suite.experiments}
    fn = sends["errors-fn-sns"]
    assert fn["message_attributes"] == {"kind": "order", "total": 101}
    assert "payload" not in fn
    bodies = sends["errors-bodies-sns"]
    assert bodies["payload"] == {"refund": {"reason": "damaged"}}
    assert "message_attributes" not in bodies


def test_a_source_whose_filter_no_load_passes_is_named_once_with_the_reason(
    tmp_path: Path,
) -> None:
    pattern = {"body": {"kind": ["order"]}, "messageAttributes": {"a": {"stringValue": ["b"]}}}
    resources = {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Fn": _function(),
        "Mapping": _filtered("Fn", "Queue", pattern),
    }
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    assert suite.experiments == []
    notes = [n for n in suite.uncovered if n.startswith("Fn:")]
    assert len(notes) == 1, notes
    assert "FilterCriteria of its sqs event source" in notes[0]
    assert "Lambda deletes what a filter drops" in notes[0]


def test_a_stream_filter_on_inserts_alone_passes_the_loads_writes_as_they_are(
    tmp_path: Path,
) -> None:
    mapping = _filtered("Fn", "Table", {"eventName": ["INSERT"]}, "dynamodb")
    resources = {"Table": _table("NEW_IMAGE"), "Fn": _function(), "Mapping": mapping}
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    assert "  table Table's stream: its FilterCriteria lets through the events as sent" in (
        suite.found
    )
    errors = next(p for p in suite.experiments if p.kind == "errors").experiment
    assert "payload" not in _load(errors)
    assert "On the way" not in errors["description"]  # nothing for an edit to keep


def _with_dlq_reader(reader_pattern: Any, own_pattern: Any = None) -> dict[str, Any]:
    """First reads In, whose redrive policy sends to Dlq; Reader reads Dlq through a filter."""
    redrive = {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 1}
    return {
        "In": {"Type": "AWS::SQS::Queue", "Properties": {"RedrivePolicy": redrive}},
        "Dlq": {"Type": "AWS::SQS::Queue"},
        "First": _function(),
        "Reader": _function(),
        "InMapping": (
            _filtered("First", "In", own_pattern) if own_pattern else _mapping("First", "In")
        ),
        "DlqMapping": _filtered("Reader", "Dlq", reader_pattern),
    }


def test_a_dlq_read_through_a_filter_gets_a_load_that_filter_lets_through(
    tmp_path: Path,
) -> None:
    # A message SQS dead-letters keeps its body, and Lambda deletes what the reader's
    # filter drops, unseen: a load it drops counted every dead-lettered event lost (a
    # public app's kill switch: 10 of 10 "never delivered"). The load must pass it, and
    # the reader is traced (never terminal): its traces show the dead-lettering.
    reader = {"body": {"data": {"type": ["TEST"]}}}
    resources = _with_dlq_reader(reader)
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    for slug in ("kill-switch-first", "errors-first-sqs", "sdk-throttling-first-dynamodb"):
        assert _traced(suite, slug) == (["stack:First", "stack:Reader"], ["stack:First"]), slug
        experiment = next(p.experiment for p in suite.experiments if p.slug == slug)
        body = {**_load(experiment)["payload"], "chaoskit": MARK}
        assert _matches(reader, {"messageId": "1", "body": body, "attributes": {}}), body
        assert "is read there by Reader through its FilterCriteria" in experiment["description"]
    assert any("read there by Reader" in line for line in suite.found)
    # Reader's own experiments send to Dlq through the same filter, as before.
    assert _load(next(p.experiment for p in suite.experiments if p.slug == "errors-reader-sqs"))[
        "payload"
    ] == {"data": {"type": "TEST"}}


def test_a_load_passes_both_the_filter_on_the_way_and_the_dlq_readers(tmp_path: Path) -> None:
    reader = {"body": {"type": ["TEST"], "retry": [{"exists": False}]}}
    own = {"body": {"kind": [{"prefix": "order"}]}}
    suite = generate_suite(
        template=_write_template(tmp_path, _with_dlq_reader(reader, own)), stack_name="s"
    )
    payload = _load(next(p.experiment for p in suite.experiments if p.slug == "errors-first-sqs"))[
        "payload"
    ]
    record = {"messageId": "1", "body": {**payload, "chaoskit": MARK}, "attributes": {}}
    assert _matches(own, record) and _matches(reader, record), payload


def test_a_dlq_reader_whose_filter_the_load_cannot_pass_is_an_expected_deviation(
    tmp_path: Path,
) -> None:
    # The filter on the way wants type A; the DLQ's reader wants type B: no event passes
    # both, so what is dead-lettered is dropped unseen, and the experiment says so.
    resources = _with_dlq_reader({"body": {"type": ["B"]}}, {"body": {"type": ["A"]}})
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    errors = next(p.experiment for p in suite.experiments if p.slug == "errors-first-sqs")
    assert _load(errors)["payload"] == {"type": "A"}
    assert _traced(suite, "errors-first") == (["stack:First"], ["stack:First"])
    assert (
        "Expect a deviation: Dlq is read by Reader through a FilterCriteria that wants what "
        "the filter on queue In does not let through"
    ) in errors["description"]
    assert any(n.startswith("Reader: as reader of Dlq:") for n in suite.uncovered)


def test_a_dlq_reader_that_cannot_carry_the_layer_leaves_the_load_as_it_was(
    tmp_path: Path,
) -> None:
    resources = _with_dlq_reader({"body": {"type": ["TEST"]}})
    resources["Reader"] = _function("python3.9")  # the layer supports 3.10 and newer
    suite = generate_suite(template=_write_template(tmp_path, resources), stack_name="s")
    errors = next(p.experiment for p in suite.experiments if p.slug == "errors-first-sqs")
    assert "payload" not in _load(errors)
    assert _traced(suite, "errors-first") == (["stack:First"], ["stack:First"])
    assert (
        "Expect a deviation: Dlq is read by Reader through a FilterCriteria, and that function "
        "cannot carry the layer"
    ) in errors["description"]


def _sns_fed_queue(tmp_path: Path, sqs_event: str) -> dict[str, dict[str, Any]]:
    suite = _yaml_suite(
        tmp_path,
        f"""
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Queue:
    Type: AWS::SQS::Queue
  Direct:
    Type: AWS::SQS::Queue
  Raw:
    Type: AWS::SQS::Queue
  ToQueue:
    Type: AWS::SNS::Subscription
    Properties: {{TopicArn: !Ref Topic, Protocol: sqs, Endpoint: !GetAtt Queue.Arn}}
  ToRaw:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Raw.Arn
      RawMessageDelivery: true
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      InlineCode: "import json\\ndef handler(event, context):\\n    return None\\n"
      Events:
{sqs_event}
""",
    )
    return {planned.slug: _load(planned.experiment) for planned in suite.experiments}


def test_a_queue_a_topic_feeds_gets_its_events_through_the_topic(tmp_path: Path) -> None:
    # SNS -> SQS without raw delivery: the body the function reads is SNS's envelope, so
    # an app taking its order from body["Message"] failed every event sent to the queue.
    events = """        Fed: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn}}
        Plain: {Type: SQS, Properties: {Queue: !GetAtt Direct.Arn}}
        AsSent: {Type: SQS, Properties: {Queue: !GetAtt Raw.Arn}}
        Own:
          Type: SNS
          Properties: {Topic: !Ref Topic, SqsSubscription: true}"""
    sends = _sns_fed_queue(tmp_path, events)
    through = {slug: (s["target_type"], s["target"]) for slug, s in sends.items()}
    # SAM's SqsSubscription makes a queue and its subscription: fed by the topic too.
    # A raw delivery, and a queue no topic feeds, get the events as they are sent.
    for experiment in ("kill-switch", "errors"):
        assert through[f"{experiment}-fn-queue-queue"] == ("sns", "stack:Topic"), through
        assert through[f"{experiment}-fn-queue-fnownqueue"] == ("sns", "stack:Topic"), through
        assert through[f"{experiment}-fn-queue-raw"] == ("sqs", "stack:Raw"), through
        assert through[f"{experiment}-fn-queue-direct"] == ("sqs", "stack:Direct"), through


def test_a_topic_whose_filter_policy_no_load_passes_leaves_the_queue_sent_to(
    tmp_path: Path,
) -> None:
    events = """        Filtered:
          Type: SNS
          Properties:
            Topic: !Ref Topic
            SqsSubscription: true
            FilterPolicy: {kind: [order]}
        Never:
          Type: SNS
          Properties:
            Topic: !Ref Topic
            SqsSubscription: true
            FilterPolicy: {ip: [{cidr: 10.0.0.0/8}]}
            FilterPolicyScope: Weird"""
    sends = _sns_fed_queue(tmp_path, events)
    filtered = sends["errors-fn-queue-fnfilteredqueue"]
    assert (filtered["target_type"], filtered["message_attributes"]) == ("sns", {"kind": "order"})
    never = sends["errors-fn-queue-fnneverqueue"]
    assert (never["target_type"], never["target"]) == ("sqs", "stack:FnNeverQueue")


def test_a_stream_a_table_streams_its_changes_to_gets_its_events_through_the_table(
    tmp_path: Path,
) -> None:
    # Kinesis Data Streams for DynamoDB (serverless-patterns' apigw-lambda-dynamodb-kinesis-
    # lambda): the stream's records are the table's change records, the item in NewImage.
    suite = _yaml_suite(
        tmp_path,
        """
Resources:
  Fed:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 1}
  Plain:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 1}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      KinesisStreamSpecification: {StreamArn: !GetAtt Fed.Arn}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      InlineCode: "def handler(event, context):\\n    return None\\n"
      Events:
        FromFed: {Type: Kinesis, Properties: {Stream: !GetAtt Fed.Arn, StartingPosition: LATEST}}
        FromPlain:
          Type: Kinesis
          Properties: {Stream: !GetAtt Plain.Arn, StartingPosition: LATEST}
""",
    )
    sends = {planned.slug: _load(planned.experiment) for planned in suite.experiments}
    through = {slug: (s["target_type"], s["target"]) for slug, s in sends.items()}
    for experiment in ("kill-switch", "errors", "poison-pill"):
        assert through[f"{experiment}-fn-stream-fed"] == ("dynamodb", "stack:Table"), through
        assert through[f"{experiment}-fn-stream-plain"] == ("kinesis", "stack:Plain"), through
    errors = next(p for p in suite.experiments if p.slug == "errors-fn-stream-fed")
    assert "written to table Table" in errors.experiment["description"]

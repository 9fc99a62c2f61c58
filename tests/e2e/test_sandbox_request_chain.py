"""The request chain's shortcuts (``request_chain.py``) answer exactly what LocalStack answers.

Each test runs in the sandbox venv (where LocalStack is): it computes LocalStack's
own answers first, applies the plugin's patches, computes them again and compares.
The requests are made by botocore's serializers from the services' own models, as
an SDK sends them.
"""

import json
import subprocess
import textwrap

from chaoskit.sandbox import install
from chaoskit.sandbox.paths import SandboxPaths

PRELUDE = """
import json
from urllib.parse import urlencode
from botocore.serialize import create_serializer
from localstack.aws.spec import load_service
from localstack.aws.protocol.parser import create_parser, ProtocolParserError
from localstack.http import Request
from chaoskit_sandbox_plugin import request_chain

def request(service, operation, params=None, body=None):
    model = load_service(service)
    wire = create_serializer(model.metadata["protocol"], False).serialize_to_request(
        params or {}, model.operation_model(operation))
    if body is not None:  # a body no SDK would send: nulls, wrong types
        wire["body"] = json.dumps(body).encode()
    query = urlencode(wire["query_string"], doseq=True) if wire["query_string"] else ""
    return model, Request(method=wire["method"], path=wire["url_path"], query_string=query,
                          headers=dict(wire["headers"]), body=wire["body"])

def parse(service, operation, params=None, body=None):
    model, req = request(service, operation, params, body)
    try:
        op, parsed = create_parser(model).parse(req)
        return [op.name, parsed]
    except ProtocolParserError as err:
        return ["error", type(err).__name__, str(err)]

def applied():
    patches = request_chain.patches()
    for patch in patches:
        patch.apply()
    return patches
"""


def _run(sandbox_endpoint: str, code: str) -> dict:
    port = int(sandbox_endpoint.rsplit(":", 1)[1])
    python = install.venv_python(SandboxPaths.for_port(port).venv)
    done = subprocess.run(
        [str(python), "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_requests_parse_to_the_same_parameters_with_the_shortcut(sandbox_endpoint):
    found = _run(
        sandbox_endpoint,
        """
        item = {"id": {"S": "o1"}, "n": {"N": "3"}, "ok": {"BOOL": False}, "none": {"NULL": True},
                "tags": {"SS": ["a", "b"]}, "blob": {"B": b"x"},
                "doc": {"M": {"l": {"L": [{"S": "x"}, {"M": {"deep": {"N": "1"}}}]}}}}
        cases = [
            ("dynamodb", "PutItem", {"TableName": "t", "Item": item,
                                     "ConditionExpression": "attribute_not_exists(id)"}, None),
            ("dynamodb", "PutItem", {"Item": item}, None),  # a required member missing
            ("dynamodb", "PutItem", None, {"TableName": "t", "Item": {"id": {"S": "1"}},
                                           "ReturnValues": None}),  # an explicit null
            ("dynamodb", "PutItem", None, {"TableName": "t", "Item": [1, 2]}),  # wrong type
            ("dynamodb", "UpdateTable", None, {"TableName": "t", "ProvisionedThroughput": [1]}),
            ("dynamodb", "BatchWriteItem", {"RequestItems": {"t": [
                {"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": {"id": {"S": "2"}}}}]}},
             None),
            ("lambda", "Invoke", {"FunctionName": "f", "InvocationType": "Event",
                                  "Qualifier": "live", "Payload": b'{"a": 1}'}, None),
            ("lambda", "UpdateFunctionConfiguration", {
                "FunctionName": "f", "Timeout": 5,
                "Environment": {"Variables": {"A": "1"}},
                "DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:d"}}, None),
            ("lambda", "PutFunctionEventInvokeConfig", {
                "FunctionName": "f", "MaximumRetryAttempts": 1, "DestinationConfig": {
                    "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:d"}}}, None),
            ("sqs", "SendMessageBatch", {"QueueUrl": "http://q", "Entries": [
                {"Id": "0", "MessageBody": "b", "DelaySeconds": 1, "MessageAttributes": {
                    "k": {"DataType": "String", "StringValue": "v"}}}]}, None),
            ("kinesis", "PutRecords", {"StreamName": "s", "Records": [
                {"Data": b"x", "PartitionKey": "p"}]}, None),
            ("events", "PutEvents", {"Entries": [
                {"Source": "s", "DetailType": "d", "Detail": "{}"}]}, None),
            ("stepfunctions", "StartExecution", {"stateMachineArn": "arn", "input": "{}"}, None),
        ]
        before = [parse(*case) for case in cases]
        patches = applied()
        after = [parse(*case) for case in cases]
        for patch in patches:
            patch.undo()
        def shown(value):  # a streaming payload by its content, not its address
            return value.getvalue().decode() if hasattr(value, "getvalue") else repr(value)
        print(json.dumps({"before": before, "after": after}, default=shown))
        """,
    )
    assert found["after"] == found["before"]
    outcomes = [result[0] for result in found["before"]]
    assert outcomes.count("error") == 2  # the wrong types are refused, before and after
    assert found["before"][1][1]["TableName"] is None  # required and missing: kept as None


def test_the_response_mime_type_is_the_serializers_own(sandbox_endpoint):
    found = _run(
        sandbox_endpoint,
        """
        from werkzeug.datastructures import Headers
        from localstack.aws.protocol.serializer import create_serializer as responses
        serializers = [responses(load_service(s)) for s in ("dynamodb", "lambda", "sqs", "s3")]
        headers = [
            None, {}, {"Accept": "*/*"}, {"Accept": "application/json"},
            {"Accept": "text/xml"}, {"Accept": ""}, {"Content-Type": "application/x-amz-json-1.0"},
            {"Accept": "*/*", "Content-Type": "application/x-amz-json-1.1"},
            {"Accept": "application/cbor, */*;q=0.5"},
            Headers([("accept", "application/xml"), ("content-type", "text/plain")]),
        ]
        def answers():
            return [[s._get_mime_type(h) for h in headers] for s in serializers]
        before = answers()
        patches = applied()
        after, again = answers(), answers()  # the second from memory
        for patch in patches:
            patch.undo()
        print(json.dumps({"before": before, "after": after, "again": again}))
        """,
    )
    assert found["after"] == found["before"] and found["again"] == found["before"]
    assert len({tuple(row) for row in found["before"]}) > 1  # the serializers differ


def test_header_lookups_answer_as_werkzeug_does(sandbox_endpoint):
    found = _run(
        sandbox_endpoint,
        """
        from werkzeug.datastructures import EnvironHeaders, Headers
        lists = [
            [],
            [("Content-Type", "a"), ("content-type", "b"), ("X-Len", "12"), ("X-Bad", "x1")],
            [("ACCEPT", "v"), ("Accept-Encoding", "gzip"), ("Host", "h")],
            [("İd", "dotted"), ("x-len", "7")],  # "İ" lowers to two characters
        ]
        keys = ["content-type", "Content-Type", "CONTENT-TYPE", "accept", "Accept-Encoding",
                "x-len", "X-Bad", "missing", "Host", "Accep", "İd", "İD"]
        def answers():
            rows = []
            for items in lists:
                headers = Headers(items)
                for key in keys:
                    rows.append([key in headers, headers.get(key), headers.get(key, "dflt"),
                                 headers.get(key, -1, type=int)])
            environ = EnvironHeaders({"HTTP_X_ONE": "1", "CONTENT_TYPE": "c"})
            rows.append([environ.get("x-one"), "X-One" in environ, environ.get("nope", "d"),
                         environ.get("content-type")])
            return rows
        before = answers()
        patches = applied()
        after = answers()
        for patch in patches:
            patch.undo()
        print(json.dumps({"before": before, "after": after}))
        """,
    )
    assert found["after"] == found["before"]
    assert [True, "a", "a", -1] in found["before"]  # the first of two, case-insensitively


def test_random_strings_keep_their_alphabet_and_length(sandbox_endpoint):
    found = _run(
        sandbox_endpoint,
        """
        import string
        from moto.moto_api._internal import mock_random
        patches = applied()
        made = [mock_random.get_random_string(length=52) for _ in range(300)]
        lower = mock_random.get_random_string(length=30, lower_case=True)
        letters = mock_random.get_random_string(length=200, include_digits=False)
        for patch in patches:
            patch.undo()
        alphabet = set(string.ascii_letters + string.digits)
        print(json.dumps({
            "lengths": sorted({len(s) for s in made}), "distinct": len(set(made)),
            "in_alphabet": all(set(s) <= alphabet for s in made),
            "every_kind": [any(c.isupper() for s in made for c in s),
                           any(c.islower() for s in made for c in s),
                           any(c.isdigit() for s in made for c in s)],
            "lower": lower == lower.lower() and len(lower) == 30,
            "letters": letters.isalpha() and len(letters) == 200,
        }))
        """,
    )
    assert found["lengths"] == [52] and found["distinct"] == 300
    assert found["in_alphabet"] and all(found["every_kind"])
    assert found["lower"] and found["letters"]

"""The sandbox's in-process shortcuts: paced log and metric sends, the async poller's invoke.

Each runs the plugin's real code in the sandbox venv (where LocalStack is) with
stand-ins for what it talks to, and checks what it hands on. The async path end
to end (retries, destinations, throttles) is covered by ``test_sandbox_async.py``,
``test_sandbox_concurrency.py`` and ``test_conformance_aws_recorded.py``.
"""

import os
import subprocess
import textwrap

from chaoskit.sandbox import install
from chaoskit.sandbox.paths import SandboxPaths


def _run(sandbox_endpoint: str, code: str) -> subprocess.CompletedProcess[str]:
    port = int(sandbox_endpoint.rsplit(":", 1)[1])
    python = install.venv_python(SandboxPaths.for_port(port).venv)
    return subprocess.run(
        [str(python), "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_log_lines_that_arrive_while_the_busy_loop_waits_go_out_in_its_next_call(
    sandbox_endpoint,
):
    done = _run(
        sandbox_endpoint,
        """
        import queue, threading
        import localstack.aws.connect as connect
        from localstack.services.lambda_.invocation.logs import LogItem, QUEUE_SHUTDOWN
        from chaoskit_sandbox_plugin import logs

        class Handler:  # LocalStack's LogHandler, as the loop uses it
            region, role_arn = "us-east-1", "arn:aws:iam::000000000000:role/r"
            def __init__(self):
                self.log_queue, self._shutdown_event = queue.Queue(), threading.Event()

        handler, calls = Handler(), []

        class Client:
            class exceptions:
                ResourceNotFoundException = type("NotFound", (Exception,), {})
                ResourceAlreadyExistsException = type("Exists", (Exception,), {})
            def put_log_events(self, logGroupName, logStreamName, logEvents):
                calls.append((logStreamName, [e["message"] for e in logEvents]))
                if len(calls) == 1:  # the next invocation ends during this call
                    handler.log_queue.put(LogItem("/aws/lambda/f", "s1", "b1\\nb2"))

        class Factory:
            def with_assumed_role(self, **kwargs):
                return type("Clients", (), {"logs": Client()})()

        class Pacer:  # while the busy loop waits, two more invocations end, then shutdown
            def __init__(self, interval):
                self.rounds = 0
            def wait(self):
                self.rounds += 1
                if self.rounds == 2:
                    handler.log_queue.put(LogItem("/aws/lambda/f", "s1", "c1"))
                    handler.log_queue.put(LogItem("/aws/lambda/f", "s2", "d1"))
                    handler.log_queue.put(QUEUE_SHUTDOWN)

        connect.connect_to = Factory()
        logs.Pacer = Pacer
        handler.log_queue.put(LogItem("/aws/lambda/f", "s1", "a1\\n\\na2"))
        loop = threading.Thread(target=logs.run_log_loop, args=(handler,), daemon=True)
        loop.start()
        loop.join(10)
        assert not loop.is_alive(), f"the loop never got the later lines: {calls}"
        print(calls)
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(
        [("s1", ["a1\n", "a2\n"]), ("s1", ["b1\n", "b2\n", "c1\n"]), ("s2", ["d1\n"])]
    )


def test_data_points_that_arrive_while_the_batcher_waits_go_in_the_same_call(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
        from datetime import UTC, datetime
        from chaoskit_sandbox_plugin import metrics

        def point(value):
            return {"MetricName": "Invocations", "Value": value, "Timestamp": datetime.now(UTC),
                    "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}

        key = ("000000000000", "us-east-1", "AWS/Lambda")

        class Pacer:
            def wait(self):  # a second invocation's point arrives while the batcher waits
                batcher.queue.put((key, point(2)))

        batcher, sent = metrics.MetricBatcher(Pacer()), []
        batcher.send = sent.append
        batcher.queue.put((key, point(1)))
        batcher.round()
        print(sorted(datum["Value"] for _, datum in sent[0]), len(sent))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 2] 1"


DIRECT_CLIENT_SETUP = """
    import json
    from localstack.aws.api import ServiceException
    from localstack.aws.api.lambda_ import TooManyRequestsException
    from localstack.services.lambda_.invocation.lambda_models import InvocationResult
    from chaoskit_sandbox_plugin.async_invoke import DirectLambdaClient

    ARN = "arn:aws:lambda:eu-west-1:111111111111:function:orders:live"

    class Service:  # LocalStack's LambdaService, as the client calls it
        def __init__(self, result=None, error=None):
            self.calls, self.result, self.error = [], result, error
        def invoke(self, **kwargs):
            self.calls.append(kwargs)
            if self.error is not None:
                raise self.error
            return self.result
"""


def test_the_async_pollers_client_invokes_in_process_and_answers_as_the_api(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        DIRECT_CLIENT_SETUP
        + """
    service = Service(InvocationResult("r", b'{"errorMessage": "boom"}', True, "log", "3"))
    client = DirectLambdaClient(service).custom_headers({
        "X-Amz-Request-Id": "req-1",
        "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
    })
    response = client.invoke(
        FunctionName=ARN, Payload=b'{"n": 1}', InvocationType="RequestResponse"
    )
    call = service.calls[0]
    print(call["function_name"], call["qualifier"], call["region"], call["account_id"],
          call["request_id"], call["invocation_type"], call["payload"],
          call["trace_context"]["aws_trace_header"].root)
    print(response["StatusCode"], response["FunctionError"], response["ExecutedVersion"],
          json.load(response["Payload"]))
    ok = DirectLambdaClient(Service(InvocationResult("r", b'{"ok": true}', False, "", "3")))
    response = ok.invoke(FunctionName=ARN, Payload=b"{}", InvocationType="RequestResponse")
    print("FunctionError" in response, json.load(response["Payload"]))
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "orders live eu-west-1 111111111111 req-1 RequestResponse b'{\"n\": 1}' "
        "1-5759e988-bd862e3fe1be46a994272793",
        "200 Unhandled 3 {'errorMessage': 'boom'}",
        "False {'ok': True}",
    ]


def test_the_async_pollers_client_raises_the_apis_errors(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        DIRECT_CLIENT_SETUP
        + """
    throttled = DirectLambdaClient(Service(error=TooManyRequestsException("Rate Exceeded.")))
    try:
        throttled.invoke(FunctionName=ARN, Payload=b"{}")
    except TooManyRequestsException as err:  # the poller's throttle path sees this class
        print("throttled", err.status_code)
    broken = DirectLambdaClient(Service(error=RuntimeError("disk full")))
    try:
        broken.invoke(FunctionName=ARN, Payload=b"{}")
    except ServiceException as err:  # as LambdaProvider.invoke: a system error (5xx)
        print("system error", err.status_code, "RuntimeError: disk full" in err.message)
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["throttled 429", "system error 500 True"]


def test_every_async_poller_gets_the_in_process_client(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
        from types import SimpleNamespace
        from localstack.services.lambda_.invocation import event_manager as em
        from chaoskit_sandbox_plugin import async_invoke

        for patch in async_invoke.patches():
            patch.apply()
        function_id = SimpleNamespace(
            function_name="f", qualifier="$LATEST", account="000000000000", region="us-east-1"
        )
        manager = SimpleNamespace(function_version=SimpleNamespace(id=function_id))
        poller = em.Poller(manager, "queue")
        print(type(poller.lambda_client).__name__)
        poller.invoker_pool.shutdown()
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "DirectLambdaClient"


def test_event_source_mappings_invoke_in_process_and_see_a_boto_clients_errors(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        DIRECT_CLIENT_SETUP
        + """
    from botocore.exceptions import ClientError
    from localstack.services.lambda_.event_source_mapping import esm_worker_factory
    from localstack.services.lambda_.event_source_mapping.senders.sender import (
        PartialFailureSenderError,
    )
    from chaoskit_sandbox_plugin import async_invoke

    for patch in async_invoke.patches():
        patch.apply()
    sender = esm_worker_factory.LambdaSender(
        target_arn=ARN, target_parameters={}, target_client=object(), payload_dict=True,
        report_batch_item_failures=True,
    )
    print(type(sender.target_client).__name__)
    failures = b'{"batchItemFailures": [{"itemIdentifier": "m1"}]}'
    service = Service(InvocationResult("r", failures, False, "", "4"))
    sender.target_client._service = service
    try:
        sender.send_events([{"messageId": "m1"}, {"messageId": "m2"}])
    except PartialFailureSenderError as err:  # the mapping's partial batch response path
        print("partial", err.partial_failure_payload, err.error["executedVersion"])
    call = service.calls[0]
    print(call["qualifier"], json.loads(call["payload"]))

    sender.target_client._service = Service(error=TooManyRequestsException("Rate Exceeded."))
    try:
        sender.send_events([{"messageId": "m3"}])
    except ClientError as err:  # as from the boto client the mapping had
        print(type(err).__name__, err.response["Error"]["Code"],
              err.response["ResponseMetadata"]["HTTPStatusCode"])
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "DirectLambdaClient",
        "partial {'batchItemFailures': [{'itemIdentifier': 'm1'}]} 4",
        "live {'Records': [{'messageId': 'm1'}, {'messageId': 'm2'}]}",
        "TooManyRequestsException TooManyRequestsException 429",
    ]


def test_log_lines_go_straight_to_the_logs_backend_only_where_nothing_else_applies(
    sandbox_endpoint,
):
    done = _run(
        sandbox_endpoint,
        """
        import time
        from localstack.services.logs.models import get_moto_logs_backend
        from chaoskit_sandbox_plugin.logs import DirectWriter

        backend = get_moto_logs_backend("000000000000", "us-east-1")
        backend.create_log_group("/aws/lambda/g", {})
        backend.create_log_stream("/aws/lambda/g", "s")
        write = DirectWriter("000000000000", "us-east-1")
        now = int(time.time() * 1000)
        lines = [{"timestamp": now, "message": "a\\n"}, {"timestamp": now, "message": "b\\n"}]
        print(write("/aws/lambda/g", "s", lines))
        print([e.message for e in backend.groups["/aws/lambda/g"].streams["s"].events])
        print(write("/aws/lambda/g", "new-stream", lines), write("/aws/lambda/new", "s", lines))
        backend.put_metric_filter("errors", "ERROR", "/aws/lambda/g",
                                  [{"metricName": "E", "metricNamespace": "N", "metricValue": "1"}])
        print(write("/aws/lambda/g", "s", lines))  # a metric filter: LocalStack's API path
        print(len(backend.groups["/aws/lambda/g"].streams["s"].events))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True", "['a\\n', 'b\\n']", "False False", "False", "2"]


def test_metric_batches_go_straight_to_the_cloudwatch_database_as_put_metric_data(
    sandbox_endpoint,
):
    done = _run(
        sandbox_endpoint,
        """
        from datetime import UTC, datetime
        from types import SimpleNamespace
        import localstack.aws.connect as connect
        from chaoskit_sandbox_plugin import metrics

        stored = []
        database = SimpleNamespace(add_metric_data=lambda *args: stored.append(args))
        metrics._cloudwatch_provider = lambda: SimpleNamespace(cloudwatch_database=database)

        class NoClient:  # the API path must not be taken while the provider is there
            def __getattr__(self, name):
                raise AssertionError(f"went through the API: {name}")

        connect.connect_to = lambda **kwargs: NoClient()
        point = {"MetricName": "Invocations", "Value": 1.0, "Timestamp": datetime.now(UTC),
                 "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}
        key = ("111111111111", "eu-west-1", "AWS/Lambda")
        metrics.MetricBatcher.send([(key, point), (key, dict(point))])
        account, region, namespace, data = stored[0]
        print(len(stored), account, region, namespace, data[0]["Values"], data[0]["Counts"])
        print(metrics.put_direct(None, "eu-west-1", "N", data))  # no account: the API decides
        try:  # the provider's own parameter check still applies
            metrics.put_direct("111111111111", "eu-west-1", "N",
                               [{"MetricName": "M", "Values": [1.0], "Counts": [1.0, 2.0]}])
        except Exception as err:
            print(type(err).__name__)
        print(len(stored))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "1 111111111111 eu-west-1 AWS/Lambda [1.0] [2.0]",
        "False",
        "InvalidParameterValueException",
        "1",
    ]


def test_sqs_metrics_are_queued_on_the_requests_thread_not_handed_to_a_pool(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
        import threading
        from types import SimpleNamespace
        from localstack.services.sqs.provider import CloudwatchDispatcher
        from chaoskit_sandbox_plugin import metrics

        for patch in metrics.patches():
            patch.apply()
        queued = []
        metrics.BATCHER.put = lambda account, region, namespace, datum: queued.append(
            (threading.current_thread() is threading.main_thread(), account, region, namespace,
             datum["MetricName"], datum["Value"], datum["Unit"], datum["Dimensions"][0]["Value"]))

        def pool(*args, **kwargs):
            raise AssertionError("handed to the thread pool")

        dispatcher = CloudwatchDispatcher()
        dispatcher.executor.submit = pool
        queue = SimpleNamespace(account_id="111111111111", region="eu-west-1", name="orders")
        dispatcher.dispatch_metric_message_sent(queue, 12)
        dispatcher.dispatch_metric_message_deleted(queue, deleted=3)
        dispatcher.shutdown()  # LocalStack's provider stopped: no more points
        dispatcher.dispatch_metric_message_deleted(queue)
        for point in queued:
            print(*point)
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "True 111111111111 eu-west-1 AWS/SQS NumberOfMessagesSent 1 Count orders",
        "True 111111111111 eu-west-1 AWS/SQS SentMessageSize 12 Bytes orders",
        "True 111111111111 eu-west-1 AWS/SQS NumberOfMessagesDeleted 3 Count orders",
    ]


def test_random_uuids_read_the_systems_random_bytes_a_block_at_a_time(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
        import os, threading, uuid
        from chaoskit_sandbox_plugin import uuids

        reads = []
        urandom = os.urandom
        os.urandom = lambda n: reads.append(n) or urandom(n)
        for patch in uuids.patches():
            patch.apply()
        made = []

        def make():
            made.extend(uuid.uuid4() for _ in range(2500))

        threads = [threading.Thread(target=make) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(len(made), len(set(made)), {(u.version, u.variant) for u in made})
        print(len(reads) <= 10000 // 256 + 4, set(reads))
        pid = os.fork()
        if pid == 0:  # a forked child reads its own bytes, never the parent's pool
            os._exit(0 if uuid.uuid4() not in set(made) and len(uuids._pool) == 255 else 1)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "10000 10000 {(4, 'specified in RFC 4122')}",
        "True {4096}",
        "0",
    ]


SQS_SETUP = """
    import boto3
    from localstack import config
    # No CloudWatch here: the provider's metric threads would wait out their retries
    # against it (80 s) before the process could exit.
    config.SQS_DISABLE_CLOUDWATCH_METRICS = True
    from localstack.aws.api import RequestContext
    from localstack.aws.client import parse_response
    from localstack.aws.protocol.serializer import create_serializer
    from localstack.aws.spec import load_service
    from localstack.http import Request
    from localstack.services.sqs.provider import SqsProvider
    from chaoskit_sandbox_plugin.sqs import DirectSqsClient

    SERVICE = load_service("sqs")

    def context(operation):
        ctx = RequestContext(Request("POST", "/"))
        ctx.service, ctx.operation = SERVICE, SERVICE.operation_model(operation)
        ctx.region, ctx.account_id = "eu-west-1", "111111111111"
        return ctx

    def over_the_wire(operation, answer):  # what the poller's boto client made of it
        op = SERVICE.operation_model(operation)
        body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
        response = create_serializer(SERVICE).serialize_to_response(body, op, {}, "r")
        return parse_response(op, "json", response, include_response_metadata=False)

    provider = SqsProvider()
    url = provider.create_queue(context("CreateQueue"), queue_name="orders")["QueueUrl"]
    for i in range(15):
        provider.send_message(
            context("SendMessage"), queue_url=url, message_body=f"order {i}",
            message_attributes={
                "kind": {"DataType": "String", "StringValue": "order"},
                "amount": {"DataType": "Number", "StringValue": str(i)},
                "raw": {"DataType": "Binary", "BinaryValue": bytes([i, 255])},
            },
        )
    boto = boto3.client("sqs", region_name="eu-west-1", aws_access_key_id="test",
                        aws_secret_access_key="test", endpoint_url="http://127.0.0.1:9")
    client = DirectSqsClient(boto, provider)
"""


def test_sqs_mappings_receive_and_delete_in_process_and_answer_as_the_api(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        SQS_SETUP
        + """
    answer = client.receive_message(  # as the poller asks, batch size 12
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
        MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"],
        sqs_override_max_message_count=12, sqs_override_wait_time_seconds=0,
    )
    messages = answer["Messages"]
    print(len(messages), answer["ResponseMetadata"]["HTTPStatusCode"])
    print(answer == {**over_the_wire("ReceiveMessage", answer),
                     "ResponseMetadata": answer["ResponseMetadata"]})
    first = messages[0]
    print(first["Body"], first["MessageAttributes"]["raw"]["BinaryValue"],
          first["Attributes"]["ApproximateReceiveCount"])
    deleted = client.delete_message_batch(
        QueueUrl=url, sqs_override_max_message_count=12,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                 for i, m in enumerate(messages)],
    )
    print(len(deleted["Successful"]), deleted.get("Failed", []))
    left = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    print(len(left["Messages"]))
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "12 200",  # the override header took: 12, above the API's 10
        "True",  # the same answer the boto client parsed from the wire
        "order 0 b'\\x00\\xff' 1",
        "12 []",  # 12 deleted in one call, again above the API's 10
        "3",
    ]


def test_sqs_mappings_in_process_client_raises_a_boto_clients_errors(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        SQS_SETUP
        + """
    from chaoskit_sandbox_plugin import sqs

    gone = url.rsplit("/", 1)[0] + "/no-such-queue"
    try:
        client.receive_message(QueueUrl=gone, MaxNumberOfMessages=1, WaitTimeSeconds=0)
    except boto.exceptions.QueueDoesNotExist as err:
        print("QueueDoesNotExist", err.response["ResponseMetadata"]["HTTPStatusCode"])
    try:  # the API's own limit holds without the override
        client.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": "x"} for i in range(11)]
        )
    except boto.exceptions.TooManyEntriesInBatchRequest as err:
        print("TooManyEntriesInBatchRequest")
    print(client.get_queue_url == boto.get_queue_url, client.meta is boto.meta)

    class Poller:  # LocalStack's SqsPoller, as the patched poll reads it
        chaoskit_esm, source_client = {}, boto
    poller = Poller()
    sqs._slots(poller)
    print(type(poller.source_client).__name__, poller.source_client._client is boto)
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "QueueDoesNotExist 400",
        "TooManyEntriesInBatchRequest",
        "True True",
        "DirectSqsClient True",
    ]


def test_moto_lists_a_response_classs_methods_once(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
    import inspect
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from chaoskit_sandbox_plugin import dynamodb

    calls = []
    getmembers = inspect.getmembers
    inspect.getmembers = lambda *a, **k: calls.append(a[0]) or getmembers(*a, **k)
    for patch in dynamodb.patches():
        patch.apply()
    for _ in range(3):  # as moto's dispatch does on every request
        names = responses.method_names_from_class(DynamoHandler)
    print(len(calls), "put_item" in names, "nope" in names)
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "True", "False"]


def test_invocations_reach_the_bootstrap_on_one_kept_alive_connection(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
    import http.server, socket, threading
    from chaoskit_sandbox_plugin.executor import _Channel

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):  # as the bootstrap's /invoke
        protocol_version = "HTTP/1.1"
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.client_address[1], body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if len(seen) == 3:  # the process goes away between two invocations
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    channel = _Channel(server.server_address[1])
    statuses = [channel.post("/invoke", f"event {i}".encode()) for i in range(5)]
    print(statuses, [body.decode() for _, body in seen])
    print(len({port for port, _ in seen[:3]}), len({port for port, _ in seen}))
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[200, 200, 200, 200, 200] ['event 0', 'event 1', 'event 2', 'event 3', 'event 4']",
        "1 2",  # one connection for three, a new one once the old was gone, each once
    ]


def test_internal_resources_are_matched_only_against_paths_their_routes_start_with(
    sandbox_endpoint,
):
    done = _run(
        sandbox_endpoint,
        """
    from localstack.aws.api import RequestContext
    from localstack.aws.handlers.internal import LocalstackResourceHandler
    from localstack.http import Request, Response
    from localstack.services.internal import get_internal_apis
    from chaoskit_sandbox_plugin import function_gateway

    for patch in function_gateway.patches():
        patch.apply()
    resources = get_internal_apis()
    dispatched = []
    dispatch = resources.dispatch
    resources.dispatch = lambda request: dispatched.append(request.path) or dispatch(request)

    class Chain:
        def __init__(self):
            self.stopped, self.status = False, None
        def stop(self):
            self.stopped = True
        def respond(self, status):
            self.status = status

    def handle(path):
        chain, response = Chain(), Response()
        LocalstackResourceHandler(resources)(chain, RequestContext(Request("GET", path)), response)
        return chain.stopped, chain.status

    print(handle("/_localstack/info")[0], handle("/_localstack/nope"))
    print(handle("/2015-03-31/functions/orders/invocations"), handle("/"))
    print(dispatched)
    resources.add("/<anything>/ping", lambda request, anything: Response("pong"))
    print(handle("/orders/ping"), dispatched[-1])
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "True (False, 404)",  # served, and a 404 for an unknown internal path, as before
        "(False, None) (False, None)",  # AWS calls go on down the chain
        "['/_localstack/info', '/_localstack/nope']",  # without being matched
        "(True, None) /orders/ping",  # a route that starts with a variable: matched again
    ]


def test_an_environments_memory_is_read_from_its_own_process_only(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
    import subprocess, sys
    from chaoskit_sandbox_plugin.executor import _memory

    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; b = bytearray(40 * 2**20); b[::4096] = "
         "b'1' * len(b[::4096]); print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    proc.stdout.readline()
    reader = _memory(proc)
    print(40 <= reader.mb() < 200, _memory(proc) is reader)
    proc.communicate("")  # exits and is reaped: its pid may go to another process
    print(reader.mb())
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True True", "0.0"]


def test_environments_keepalive_on_the_shared_timers_thread(sandbox_endpoint):
    """LocalStack's own release/reserve, as each invocation runs them, with the patch applied."""
    done = _run(
        sandbox_endpoint,
        """
    import threading
    from localstack import config
    from localstack.services.lambda_.invocation import execution_environment as ee
    from chaoskit_sandbox_plugin import timers

    for patch in timers.patches():
        patch.apply()
    config.LAMBDA_KEEPALIVE_MS = 200
    stopped = threading.Event()

    class Environment(ee.ExecutionEnvironment):
        def __init__(self):  # what release() and reserve() read; no process
            self.id, self.status_lock = "env-1", threading.RLock()
            self.status = ee.RuntimeStatus.INVOKING
            self.initialization_type = ee.InitializationType.on_demand
            self.keepalive_timer = ee.Timer(0, lambda *args, **kwargs: None)

        def keepalive_passed(self):
            stopped.set()

    env = Environment()
    before = {t.ident for t in threading.enumerate()}
    for _ in range(500):  # an invocation ends (release), the next one starts (reserve)
        env.release()
        env.reserve()
    threads = sorted(t.name for t in threading.enumerate() if t.ident not in before)
    print(ee.Timer is timers.Deadline, threads, stopped.is_set())
    env.release()  # the last invocation: idle from here on
    print(stopped.wait(30), env.status.name)
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True ['chaoskit-timers'] False", "True READY"]


def test_an_invocation_waits_for_a_busy_environment_but_not_where_there_is_none(
    sandbox_endpoint,
):
    """A function's first invocation starts an environment at once; the next waits for it."""
    done = _run(
        sandbox_endpoint,
        """
    import threading
    from localstack.services.lambda_.invocation.assignment import AssignmentService
    from localstack.services.lambda_.invocation.execution_environment import (
        InvalidStatusException,
    )
    from localstack.services.lambda_.invocation.lambda_models import InitializationType
    from chaoskit_sandbox_plugin import environments

    for patch in environments.patches():
        patch.apply()
    environments.PATIENCE = 3600  # a wait for an environment to come free outlasts the test
    ON_DEMAND = InitializationType.on_demand

    class Environment:  # what the assignment reads and calls; no process
        initialization_type = ON_DEMAND

        def __init__(self, number):
            self.id, self.busy = f"env-{number}", False

        def reserve(self):
            if self.busy:
                raise InvalidStatusException("busy")
            self.busy = True

        def release(self):
            self.busy = False

    class Service:  # LocalStack's AssignmentService, as the patch uses it
        def __init__(self):
            self.environments = {"f": {}}
            self.on_demand_start_semaphore = threading.Semaphore(16)
            self.started = []

        def start_environment(self, manager, function_version):
            self.started.append(Environment(len(self.started) + 1))
            return self.started[-1]

    service, taken = Service(), []

    def invoke():
        with AssignmentService.get_environment(service, "f", None, ON_DEMAND) as environment:
            taken.append(environment.id)

    with AssignmentService.get_environment(service, "f", None, ON_DEMAND) as first:
        taken.append(first.id)
        second = threading.Thread(target=invoke, daemon=True)
        second.start()
        second.join(0.5)  # it waits for env-1 rather than starting another
        print(second.is_alive(), [e.id for e in service.started])
    second.join(30)
    print(taken, [e.id for e in service.started])
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True ['env-1']", "['env-1', 'env-1'] ['env-1']"]


def test_sqs_mappings_add_a_batch_only_while_a_core_is_idle(sandbox_endpoint, tmp_path):
    # The CPU statistics as the kernel writes them (total ticks since boot, per state);
    # each step of the test writes the next reading, one second's worth of ticks later.
    stat = tmp_path / "stat"
    done = _run(
        sandbox_endpoint,
        f"""
    import os, threading, time
    from chaoskit_sandbox_plugin import sqs

    cores = os.cpu_count() or 1
    ticks = {{"user": 0, "idle": 0}}

    def second(idle_cores):  # one second on every core, idle_cores of them idle
        ticks["user"] += round(100 * (cores - idle_cores))
        ticks["idle"] += round(100 * idle_cores)
        with open({str(stat)!r}, "w") as out:
            out.write(f"cpu  {{ticks['user']}} 0 0 {{ticks['idle']}} 0 0 0 0 0 0\\n")

    idle = sqs.IdleCpu({str(stat)!r}, window=0, stale=0.5)
    slots = sqs._Slots(limit=10, idle=idle)
    stopped = threading.Event()

    def full_batch_arrives(idle_cores, label=None):  # every slot busy, a second later
        second(idle_cores)
        while slots.busy < slots.target:
            slots.acquire(stopped)
        slots.grown_at = 0.0
        slots.grow()
        print(idle_cores if label is None else label, slots.target)

    full_batch_arrives(cores, "first")  # a first reading only starts
    for idle_cores in (0, 0.5, 1, cores):
        full_batch_arrives(idle_cores)
    time.sleep(0.6)
    full_batch_arrives(cores, "after a pause")  # a stale reading starts again
    full_batch_arrives(cores)
    os.remove({str(stat)!r})  # unknown: grow on the backlog alone
    slots.grown_at = 0.0
    slots.acquire(stopped)
    slots.grow()
    print("unknown", slots.target)
    """,
    )
    assert done.returncode == 0, done.stderr
    cores = os.cpu_count() or 1
    assert done.stdout.splitlines() == [
        "first 5",
        "0 5",
        "0.5 5",
        "1 6",
        f"{cores} 7",
        "after a pause 7",
        f"{cores} 8",
        "unknown 9",
    ]


def test_a_router_remembers_the_requests_no_route_matched_until_its_routes_change(
    sandbox_endpoint,
):
    done = _run(
        sandbox_endpoint,
        """
    from rolo import Request, Response, Router
    from werkzeug.exceptions import NotFound
    from chaoskit_sandbox_plugin import function_gateway

    for patch in function_gateway.patches():
        patch.apply()

    router, handled = Router(), []

    def gone(request, args):  # a matched route whose handler says not found
        handled.append(request.path)
        raise NotFound()

    router.add("/gone", gone)

    def request(path, host="localhost:4566"):
        return Request("GET", path, headers={"Host": host}, raw_path=path)

    def outcome(path, host="localhost:4566"):
        binds = []
        bind = router.url_map.bind
        router.url_map.bind = lambda **kw: binds.append(kw) or bind(**kw)
        try:
            answer = router.dispatch(request(path, host)).get_data(as_text=True)
        except NotFound:
            answer = "not found"
        finally:
            del router.url_map.bind
        return f"{path} {host}: {answer}, matched {len(binds)}"

    print(outcome("/orders"))
    print(outcome("/orders"))                   # remembered: not matched again
    print(outcome("/orders", "other:4566"))     # another host is another request
    router.add("/orders", lambda request, args: Response("listed"))
    print(outcome("/orders"))                   # a new route: a new table
    print(outcome("/gone"), outcome("/gone"), handled)
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "/orders localhost:4566: not found, matched 1",
        "/orders localhost:4566: not found, matched 0",
        "/orders other:4566: not found, matched 1",
        "/orders localhost:4566: listed, matched 1",
        "/gone localhost:4566: not found, matched 1 /gone localhost:4566: not found, matched 1"
        " ['/gone', '/gone']",
    ]

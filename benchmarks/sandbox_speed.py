"""What the sandbox costs and how fast it goes: up time, memory, invoke latency, throughput.

One run, printed figures, no assertions. Run with the project's venv (the first
run installs the sandbox venv, about 3 minutes; that time is not what is measured):

    .venv/bin/python benchmarks/sandbox_speed.py [--invokes 50] [--events 1000]

Measures, on a private sandbox on a free port that it stops at the end:
- how fast the machine is, at the start and the end (a fixed Python loop alone and on
  every core at once);
- time to ``up`` with a warm cache (venv installed, sandbox stopped);
- the sandbox's RSS (LocalStack and its Lambda processes) when idle and after the load;
- cold and warm sync invoke latency of a trivial Python handler (p50, p99);
- events per second through SQS -> Lambda (event source mapping) -> DynamoDB, first with
  ``ScalingConfig.MaximumConcurrency`` 2 (the least AWS allows) as the same-run baseline,
  then with the default scaling (five concurrent batches, growing); the machine may be
  shared, so compare the two rates of one run, not runs;
- with ``--orders N``, the reference app's N orders: the time until every order was stored
  and notified, and where the machine's CPU went per order (LocalStack, each function's
  processes, this benchmark, everything else), and the CPU time the hypervisor stole.
"""

import argparse
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from common import ROOT, free_port, percentile

from chaoskit import sandbox

HANDLER = """
import boto3, os
_table = None
def handler(event, context):
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    if "Records" not in event:
        return {"ok": True}
    with _table.batch_writer() as batch:
        for record in event["Records"]:
            batch.put_item(Item={"id": record["messageId"], "body": record["body"]})
    return {"batchItemFailures": []}
"""


def load() -> str:
    """The 1-minute load average, printed with every figure (the machine may be shared)."""
    return f"[load {os.getloadavg()[0]:.1f}]"


def _loop_ms() -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def machine() -> str:
    """How fast the machine is now: a fixed pure-Python loop, alone and on every core at once.

    On a shared machine both change over the day, whatever the load average says (a core
    whose neighbour on the host is busy runs slower); compare runs only where they are close.
    """
    from concurrent.futures import ProcessPoolExecutor

    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        together = list(pool.map(_loop_ms_after, [time.time() + 0.5] * cores))
    return (
        f"a fixed Python loop: {_loop_ms():.1f} ms alone, "
        f"{', '.join(f'{ms:.1f}' for ms in sorted(together))} ms on {cores} cores at once"
    )


def _loop_ms_after(start_at: float) -> float:
    time.sleep(max(0.0, start_at - time.time()))  # the workers start together
    return _loop_ms()


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used: less sensitive to a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _environ_value(pid: int, name: str) -> str:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return ""
    prefix = name.encode() + b"="
    return next((v[len(prefix) :].decode() for v in environ if v.startswith(prefix)), "")


def cpu_by_process(root: int) -> dict[int, tuple[str, float]]:
    """CPU seconds of ``root``, each process under it (labelled by the function it runs)
    and this benchmark."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    found: dict[int, tuple[str, float]] = {}
    for pid in parents:
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor != root:
            continue
        label = "LocalStack" if pid == root else _environ_value(pid, "AWS_LAMBDA_FUNCTION_NAME")
        try:
            found[pid] = (label or "other processes", cpu_s(pid))
        except OSError:
            continue
    found[os.getpid()] = ("this benchmark", cpu_s(os.getpid()))
    return found


def machine_times() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy (every core), and stolen, from /proc/stat.

    Busy excludes steal: time the hypervisor gave this virtual machine's cores to
    another guest while they had work, which no process here spent.
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    busy = sum(fields[:3]) + fields[5] + fields[6]  # user, nice, system, irq, softirq
    return busy / tick, fields[7] / tick


def cpu_breakdown(
    before: dict[int, tuple[str, float]], root: int, times: tuple[float, float], count: int
) -> str:
    """CPU per order since ``before``: LocalStack, each function's processes, the rest."""
    spent: dict[str, float] = {}
    processes: dict[str, int] = {}
    for pid, (label, cpu) in cpu_by_process(root).items():
        spent[label] = spent.get(label, 0.0) + cpu - before.get(pid, (label, 0.0))[1]
        processes[label] = processes.get(label, 0) + 1
    busy, steal = (now - then for now, then in zip(machine_times(), times, strict=True))
    spent["everything else"] = busy - sum(spent.values())
    parts = sorted(spent.items(), key=lambda item: -item[1])
    return (
        f"machine CPU {busy * 1000 / count:.1f} ms per order: "
        + ", ".join(
            f"{label} {cpu * 1000 / count:.1f}"
            + (f" ({processes[label]} processes)" if processes.get(label, 1) > 1 else "")
            for label, cpu in parts
        )
        + f"; and {steal * 1000 / count:.1f} ms per order stolen by the hypervisor"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=50, help="warm invokes to time")
    parser.add_argument("--events", type=int, default=1000, help="SQS messages to push through")
    parser.add_argument(
        "--orders", type=int, default=0, help="also send this many orders through the reference app"
    )
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}; {machine()}")
    port = free_port()

    # Install if needed (not measured), then measure a warm-cache start.
    sandbox.ensure_up(port, progress=lambda line: print(f"  {line}"))
    sandbox.down(port)
    started = time.perf_counter()
    endpoint = sandbox.ensure_up(port, options=sandbox.FAST)
    up_s = time.perf_counter() - started
    print(f"up with a warm cache: {up_s:.2f} s {load()}")
    try:
        time.sleep(2)
        print(f"RSS idle: {sandbox.status(port)['rss_mb']} MB")
        run(endpoint, port, args)
        print(f"RSS after the load: {sandbox.status(port)['rss_mb']} MB {load()}")
        if args.orders:
            orders(endpoint, port, args.orders)
            print(f"RSS after the orders: {sandbox.status(port)['rss_mb']} MB {load()}")
        print(machine())
    finally:
        sandbox.down(port, purge=True)
        if args.orders:  # the reference app's deploy started its payments stub
            from chaoskit.cli.demo import load_app_deploy

            load_app_deploy(ROOT / "experiments" / "app").stop_payments_stub()


def run(endpoint: str, port: int, args: argparse.Namespace) -> None:
    kw = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    lam, sqs, dynamodb = (boto3.client(s, **kw) for s in ("lambda", "sqs", "dynamodb"))
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bench.py", HANDLER)
    table = f"bench-{uuid.uuid4().hex[:6]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    name = f"bench-{uuid.uuid4().hex[:6]}"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="bench.handler",
        Code={"ZipFile": buffer.getvalue()},
        Timeout=30,
        MemorySize=256,
        Environment={"Variables": {"TABLE": table}},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)

    started = time.perf_counter()
    lam.invoke(FunctionName=name, Payload=b"{}")
    cold_ms = (time.perf_counter() - started) * 1000
    warm = []
    for _ in range(args.invokes):
        started = time.perf_counter()
        lam.invoke(FunctionName=name, Payload=b"{}")
        warm.append((time.perf_counter() - started) * 1000)
    print(f"invoke latency: cold {cold_ms:.0f} ms; warm p50 {statistics.median(warm):.1f} ms, "
          f"p99 {percentile(warm, 0.99):.1f} ms ({args.invokes} invokes) {load()}")  # fmt: skip

    per_batch_ms = statistics.median(warm)
    print(f"one batch at a time would allow about {10_000 / per_batch_ms:.0f} events/s "
          f"(10 events per warm invoke of {per_batch_ms:.1f} ms, without DynamoDB)")  # fmt: skip
    done = 0
    for label, scaling in (("MaximumConcurrency 2 (baseline)", {"MaximumConcurrency": 2}),
                           ("default scaling", None)):  # fmt: skip
        pid = sandbox.status(port)["pid"]
        cpu = cpu_s(pid)
        rate = pipeline(lam, sqs, dynamodb, name, table, args.events, done, scaling)
        cpu_ms = (cpu_s(pid) - cpu) * 1000 / args.events
        done += args.events
        print(f"SQS -> Lambda -> DynamoDB, {label}: {rate:.0f} events/s, "
              f"LocalStack CPU {cpu_ms:.2f} ms per event {load()}")  # fmt: skip
        rates.append(rate)
    print(f"ratio default / baseline: {rates[1] / rates[0]:.2f}x")


rates: list[float] = []


def orders(endpoint: str, port: int, count: int) -> None:
    """Deploy the reference app, send ``count`` orders to its queue, time until settled."""
    from chaoskit.cli.demo import load_app_deploy
    from chaoskit.faults.load import send_events
    from probes.ledger import wait_until_settled

    configuration: dict[str, Any] = {
        "chaoskit_target": "sandbox",
        "chaoskit_sandbox_port": port,
        "chaoskit_endpoint_url": endpoint,
        "aws_region": "us-east-1",
        "chaoskit_run_id": f"bench-{uuid.uuid4().hex[:8]}",
    }
    started = time.perf_counter()
    app = load_app_deploy(ROOT / "experiments" / "app")
    configuration.update(app.experiment_vars(app.deploy(configuration)))
    print(f"reference app deployed in {time.perf_counter() - started:.1f} s {load()}")
    configuration.update({"chaoskit_processed_from": "sink", "chaoskit_sink_table": "orders-table"})
    pid = sandbox.status(port)["pid"]
    before = cpu_by_process(pid)
    times = machine_times()
    started = time.perf_counter()
    sent = send_events("sqs", "orders-queue", count=count, configuration=configuration)
    sent_s = time.perf_counter() - started
    # Done: every order's message deleted (its batch succeeded: the order is stored) and
    # CloudWatch counting one notifier invocation per order (each order's async
    # notification ran), each read every 0.5 s. The settle probe then gives the verdict;
    # it is timed apart, as it waits for a quiet window first, and reads the whole sink
    # table on each poll (a Scan: 8% of LocalStack's CPU at 4,000 orders, growing with
    # the table), so it starts once the queue is empty.
    wait_for_empty_queue(endpoint, "orders-queue")
    stored = time.perf_counter() - started
    notified = wait_for_invocations(endpoint, "orders-notifier", count)
    done = time.perf_counter() - started
    cpu_ms = (cpu_s(pid) - before[pid][1]) * 1000 / count
    breakdown = cpu_breakdown(before, pid, times, count)
    settled = wait_until_settled(
        timeout=1200, queues=["orders-queue"], quiet_seconds=5, configuration=configuration
    )
    print(f"reference app: {sent.get('sent')} orders sent in {sent_s:.1f} s; queue empty after "
          f"{stored:.1f} s; {notified:.0f} notifier invocations after {done:.1f} s "
          f"({count / done:.0f} orders/s); LocalStack CPU {cpu_ms:.1f} ms per order "
          f"{load()}")  # fmt: skip
    print(f"  {breakdown}")
    print(f"  settled after {time.perf_counter() - started:.1f} s (5 quiet seconds included): "
          f"processed {settled.get('processed')}, dead-lettered {settled.get('dead_lettered')}, "
          f"lost {settled.get('lost')}")  # fmt: skip


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def wait_for_empty_queue(endpoint: str, name: str, timeout: float = 1200) -> None:
    """Wait until the queue's counters show no message, visible or in flight.

    Prints the counters every 10 s: a tail of messages in flight (a batch that failed
    and waits out its visibility timeout) shows there.
    """
    sqs = _client(endpoint, "sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    started = time.perf_counter()
    deadline = started + timeout
    shown = started
    while time.perf_counter() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        if not any(int(v) for v in attributes.values()):
            return
        if time.perf_counter() - shown >= 10:
            shown = time.perf_counter()
            print(f"  {shown - started:.0f} s: {attributes[names[0]]} waiting, "
                  f"{attributes[names[1]]} in flight {load()}")  # fmt: skip
        time.sleep(0.5)


def wait_for_invocations(endpoint: str, function: str, count: int, timeout: float = 600) -> float:
    """Wait until CloudWatch counts ``count`` invocations of ``function``; return the count."""
    from datetime import UTC, datetime, timedelta

    cloudwatch = _client(endpoint, "cloudwatch")
    deadline = time.perf_counter() + timeout
    total = 0.0
    while time.perf_counter() < deadline:
        now = datetime.now(UTC)
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Invocations",
            Dimensions=[{"Name": "FunctionName", "Value": function}],
            StartTime=now - timedelta(hours=2),
            EndTime=now + timedelta(minutes=5),
            Period=3 * 3600,
            Statistics=["Sum"],
        )["Datapoints"]
        total = sum(p["Sum"] for p in points)
        if total >= count:
            break
        time.sleep(0.5)
    return total


def pipeline(
    lam: Any,
    sqs: Any,
    dynamodb: Any,
    name: str,
    table: str,
    events: int,
    before: int,
    scaling: dict[str, int] | None,
) -> float:
    """Push ``events`` messages through a new queue and mapping; return events per second."""
    queue_url = sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    for offset in range(0, events, 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"n": offset + i})}
            for i in range(min(10, events - offset))
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    started = time.perf_counter()
    extra = {"ScalingConfig": scaling} if scaling else {}
    uuid_ = lam.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=queue_arn,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=0,
        **extra,
    )["UUID"]
    deadline = started + 600
    count = 0
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    while time.perf_counter() < deadline:
        # The queue's counters are cheap; a Scan of the growing table every 0.2 s took
        # a fifth of LocalStack's CPU. A message leaves the queue once its batch is
        # written: count the table when the queue is empty.
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
        if not any(int(v) for v in attributes["Attributes"].values()):
            count = dynamodb.scan(TableName=table, Select="COUNT")["Count"] - before
            if count >= events:
                break
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    lam.delete_event_source_mapping(UUID=uuid_)
    print(f"  {count} events in {elapsed:.1f} s (batch 10, from the mapping's creation)")
    return count / elapsed


if __name__ == "__main__":
    main()

"""Rules on function code (Python, by static analysis): SDK retries, swallowed write errors.

The code read is the handler's module in the function's code folder
(``CodeUri`` for SAM, the asset folder for CDK, ``Code`` for a packaged
template) or its inline code. Nothing is imported or run.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chaoskit.audit.findings import Finding, finding, rule
from chaoskit.topology.model import Function, Location, Topology

__all__: list[str] = []

WRITE_SERVICES = {
    "dynamodb", "sqs", "sns", "kinesis", "firehose", "events", "s3", "stepfunctions",
    "lambda", "scheduler",
}  # fmt: skip
WRITE_METHODS = {
    "put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items",
    "send_message", "send_message_batch", "publish", "publish_batch", "put_events",
    "put_record", "put_records", "put_record_batch", "put_object", "start_execution",
    "invoke", "upload_file", "upload_fileobj", "delete_message", "create_schedule",
}  # fmt: skip
_BROAD = {"Exception", "BaseException", "ClientError", "BotoCoreError", "error", "Error"}
_RETRY_ENV = ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")


@dataclass
class _Source:
    file: str
    tree: ast.Module


def _handler_source(fn: Function) -> _Source | None:
    if not (fn.runtime or "").startswith("python") or not fn.handler:
        return None
    if fn.inline_code:
        try:
            return _Source(fn.location.file if fn.location else "", ast.parse(fn.inline_code))
        except SyntaxError:
            return None
    if not fn.code_dir:
        return None
    module = fn.handler.rsplit(".", 1)[0]
    path = Path(fn.code_dir) / (module.replace(".", "/") + ".py")
    if not path.is_file():
        return None
    try:
        return _Source(str(path), ast.parse(path.read_text(encoding="utf-8"), str(path)))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return None


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_call_name(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _clients(tree: ast.Module) -> Iterator[tuple[ast.Call, str, bool]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node.func)
        if not name.endswith(("boto3.client", "boto3.resource")) and name not in (
            "client",
            "resource",
        ):
            continue
        if not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        service = str(node.args[0].value)
        has_config = any(k.arg == "config" for k in node.keywords)
        yield node, service, has_config


@rule("code-sdk-no-retry-config", "SDK client that writes without explicit retry config", "low")
def sdk_no_retry(topo: Topology) -> Iterator[Finding]:
    """A function creates an AWS SDK client for a service it writes to with default retries."""
    for fn in topo.functions.values():
        if any(k in fn.environment for k in _RETRY_ENV):
            continue
        src = _handler_source(fn)
        if src is None:
            continue
        bare = [
            (node.lineno, service)
            for node, service, has_config in _clients(src.tree)
            if service in WRITE_SERVICES and not has_config
        ]
        if not bare or not _writes(src.tree.body):
            continue
        yield finding(
            "code-sdk-no-retry-config",
            fn,
            {"file": src.file, "clients": [f"line {n}: {s}" for n, s in bare]},
            "the SDK's legacy default retries a throttled write a few times with short "
            "backoff and then raises: under a throttling burst writes fail that a standard "
            "or adaptive retry mode would have landed",
            "  # code: boto3.client(service, config=Config(retries={'mode': 'standard', "
            "'max_attempts': 10}))\n  # or in the template:\n  Environment:\n    Variables:\n"
            "      AWS_RETRY_MODE: standard\n      AWS_MAX_ATTEMPTS: '10'",
            location=Location(src.file, bare[0][0]),
        )


def _catches_broadly(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(_call_name(t).rsplit(".", 1)[-1] in _BROAD for t in types)


def _writes(body: list[ast.stmt]) -> list[str]:
    out = []
    for stmt in body:
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITE_METHODS
            ):
                out.append(node.func.attr)
    return out


def _reports_failure(handler: ast.ExceptHandler) -> bool:
    for node in ast.walk(handler):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if "fail" in name.lower() or "retry" in name.lower():
                return True
    return False


@rule("code-swallowed-write-error", "Handler swallows the error of a write", "high")
def swallowed_write(topo: Topology) -> Iterator[Finding]:
    """A handler catches the error of an AWS write and carries on as if it had succeeded."""
    for fn in topo.functions.values():
        src = _handler_source(fn)
        if src is None:
            continue
        swallowed = []
        for node in ast.walk(src.tree):
            if not isinstance(node, ast.Try):
                continue
            writes = _writes(node.body)
            if not writes:
                continue
            for handler in node.handlers:
                if _catches_broadly(handler) and not _reports_failure(handler):
                    swallowed.append((handler.lineno, sorted(set(writes))))
        if not swallowed:
            continue
        yield finding(
            "code-swallowed-write-error",
            fn,
            {
                "file": src.file,
                "except": [f"line {n}: around {', '.join(w)}" for n, w in swallowed],
            },
            "the write failed but the invocation succeeds: the event source deletes the "
            "message (or the async invoke counts as done) and the event is gone",
            "  # code: re-raise after logging, or report the record as failed:\n"
            "  except ClientError:\n      logger.exception('write failed')\n      raise",
            location=Location(src.file, swallowed[0][0]),
        )

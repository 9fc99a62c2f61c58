"""Find a sample payload of the app's own in its folder, so generated load looks like it.

Apps often keep sample events beside the template: Lambda test events
(``{"Records": [...]}`` with SQS bodies, Kinesis data, SNS messages, DynamoDB
stream images),
EventBridge events (``{"detail": {...}}``) or ``aws kinesis put-records`` input
(``[{"Data": "<base64>", "PartitionKey": ...}]``). The first JSON object payload
found per event source kind becomes the generated experiments' ``payload``.
Files named as bad input (``poison``, ``invalid``, ``malformed``, ``bad``,
``error``, ``fail``, but not ``without-poison``) are skipped: their records
are meant to fail.

A value that is a UUID names one thing (an order, a batch, a request): copied
into every event, it would make them all the same thing, which an app rejects
(a batch write with duplicate keys) or keeps once (an idempotent write). Each
becomes ``{{uuid}}``, drawn afresh for every event (from the run's seed).
"""

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any

from chaoskit.layer.events import plain_image

__all__ = ["FRESH", "fresh_fields", "sample_payloads"]

_BAD_NAMES = ("poison", "invalid", "malformed", "bad", "error", "fail")
_MAX_BYTES = 256 * 1024
_MAX_FILES = 200
_SKIP_DIRS = {"node_modules", ".aws-sam", "cdk.out", ".git", "__pycache__", ".venv"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: What a sample's UUID becomes: a placeholder ``send_events`` fills per event.
FRESH = "{{uuid}}"


def _fresh(value: Any) -> Any:
    """Return ``value`` with every string that is a UUID replaced by :data:`FRESH`."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, str) and _UUID.fullmatch(value):
        return FRESH
    return value


def fresh_fields(value: Any, path: str = "") -> list[str]:
    """Return the paths (``id``, ``order.ref``, ``tags[0]``) where ``value`` holds :data:`FRESH`."""
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in fresh_fields(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in fresh_fields(v, f"{path}[{i}]")]
    return [path] if value == FRESH else []


def _named_bad(name: str) -> bool:
    words = re.split(r"[^a-z]+", name.lower())
    return any(
        word.startswith(_BAD_NAMES) and (i == 0 or words[i - 1] not in ("without", "no", "non"))
        for i, word in enumerate(words)
    )


def _object(text: Any, b64: bool = False) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    if b64:
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _from_document(doc: Any) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(doc, list):
        for item in doc:
            if isinstance(item, dict) and "Data" in item:
                payload = _object(item["Data"], b64=True)
                if payload is not None:
                    found.append(("kinesis", payload))
    elif isinstance(doc, dict):
        for record in doc.get("Records") or []:
            if not isinstance(record, dict):
                continue
            if record.get("eventSource") == "aws:sqs":
                payload, kind = _object(record.get("body")), "sqs"
            elif record.get("eventSource") == "aws:kinesis":
                payload, kind = _object((record.get("kinesis") or {}).get("data"), True), "kinesis"
            elif record.get("EventSource") == "aws:sns":
                payload, kind = _object((record.get("Sns") or {}).get("Message")), "sns"
            elif record.get("eventSource") == "aws:dynamodb":
                payload, kind = (
                    plain_image((record.get("dynamodb") or {}).get("NewImage")),
                    "dynamodb",
                )
            else:
                payload = None
            if payload is not None:
                found.append((kind, payload))
        if isinstance(doc.get("detail"), dict) and "detail-type" in doc:
            found.append(("eventbridge", dict(doc["detail"])))
    return found


def sample_payloads(folder: str | Path) -> dict[str, tuple[dict[str, Any], str]]:
    """Return ``{kind: (payload, file it came from)}`` for sample events under ``folder``.

    ``kind`` is ``sqs``, ``kinesis``, ``sns``, ``dynamodb`` or ``eventbridge``.
    """
    root = Path(folder)
    if not root.is_dir():
        return {}
    files = [
        p
        for p in sorted(root.rglob("*.json"))
        if not (set(p.relative_to(root).parts[:-1]) & _SKIP_DIRS) and not _named_bad(p.name)
    ][:_MAX_FILES]
    out: dict[str, tuple[dict[str, Any], str]] = {}
    for path in files:
        try:
            if path.stat().st_size > _MAX_BYTES:
                continue
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):  # not a sample event: skip it
            continue
        for kind, payload in _from_document(doc):
            out.setdefault(kind, (_fresh(payload), str(path.relative_to(root))))
    return out

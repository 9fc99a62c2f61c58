"""Read the user's files and flags defensively: size, encoding, shape, URLs.

Every file chaoskit reads from a user (experiments, game days, the settings
file, journals) goes through :func:`load_document`:

- its size is checked before it is read (:data:`MAX_BYTES` per kind), so a
  huge file is refused at once instead of exhausting memory;
- it must be UTF-8 text without NUL bytes (binary or Latin-1 files are refused,
  naming the byte offset);
- YAML is parsed with ``yaml.safe_load``, JSON with ``json.loads``; a parser's
  ``RecursionError`` becomes an error naming the file;
- the parsed document is walked once: nesting deeper than :data:`MAX_DEPTH` or
  more than :data:`MAX_NODES` values once YAML aliases are expanded (an "alias
  bomb", which would exhaust memory when the document is copied or written) is
  refused.

Each failure raises :class:`chaoskit.errors.BadInput` with one line naming the
file and what was expected.
"""

import json
import os
import socket
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from chaoskit.errors import BadInput

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "check_reachable",
    "check_shape",
    "check_text_value",
    "load_document",
    "one_line",
    "read_text",
    "split_pairs",
    "validate_endpoint_url",
]

#: Largest file accepted, per kind of input, in bytes.
MAX_BYTES: dict[str, int] = {
    "experiment file": 2 * 1024 * 1024,
    "game day file": 1024 * 1024,
    "settings file": 1024 * 1024,
    "journal": 64 * 1024 * 1024,
    # CloudFormation takes 1 MB from S3; synthesized and SAM templates stay below this.
    "template": 8 * 1024 * 1024,
}
#: Deepest nesting of mappings and lists accepted in a document.
MAX_DEPTH = 64
#: Most values (scalars, lists, mappings) a document may hold once aliases are expanded.
MAX_NODES = 200_000


def read_text(path: str | os.PathLike[str], kind: str) -> str:
    """Return the UTF-8 text of ``path``, refusing oversized, binary and non-UTF-8 files.

    Args:
        path: the file.
        kind: what the file is, as the messages say it (a key of :data:`MAX_BYTES`).

    Raises:
        BadInput: the file cannot be read, is too large, or is not UTF-8 text.
    """
    file = Path(path)
    limit = MAX_BYTES.get(kind, MAX_BYTES["experiment file"])
    try:
        size = file.stat().st_size
        if size > limit:
            raise BadInput(f"{kind} '{file}' is {size:,} bytes: expected at most {limit:,} bytes")
        with open(file, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as err:
        raise BadInput(f"cannot read {kind} '{file}': {err.strerror or err}") from err
    if len(raw) > limit:  # grew while we read it, or not a regular file
        raise BadInput(f"{kind} '{file}' is larger than {limit:,} bytes: expected less")
    nul = raw.find(b"\0")
    if nul >= 0:
        raise BadInput(f"{kind} '{file}' is binary (NUL byte at offset {nul}): expected UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(
            f"{kind} '{file}' is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset "
            f"{err.start}): save it as UTF-8"
        ) from err


def check_shape(data: Any, where: str) -> None:
    """Refuse a document nested deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_NODES`.

    Counts values as a copy would see them: a YAML alias counts as often as it
    is referenced. Walks iteratively and stops at the first limit passed.

    Raises:
        BadInput: naming ``where`` and the limit.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise BadInput(
                f"{where} holds more than {MAX_NODES:,} values once its YAML aliases are "
                "expanded: expected a smaller document (an alias bomb?)"
            )
        if isinstance(value, Mapping):
            children: Any = [*value.keys(), *value.values()]
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth >= MAX_DEPTH and children:
            raise BadInput(f"{where} is nested deeper than {MAX_DEPTH} levels: expected less")
        stack.extend((child, depth + 1) for child in children)


def load_document(path: str | os.PathLike[str], kind: str, json_only: bool = False) -> Any:
    """Read and parse a YAML or JSON file (JSON when the name ends in ``.json``).

    Args:
        path: the file.
        kind: what the file is (``experiment file``, ``game day file``, ...).
        json_only: parse as JSON whatever the name (journals).

    Raises:
        BadInput: see the module docstring. The message names the file.
    """
    file = Path(path)
    text = read_text(file, kind)
    as_json = json_only or file.suffix.lower() == ".json"
    try:
        data = json.loads(text) if as_json else yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"{kind} '{file}' is not valid JSON: {err}") from err
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        raise BadInput(f"{kind} '{file}' is not valid YAML: {detail}") from err
    except RecursionError as err:
        raise BadInput(
            f"{kind} '{file}' is nested too deeply to parse: expected at most {MAX_DEPTH} levels"
        ) from err
    check_shape(data, f"{kind} '{file}'")
    return data


def check_text_value(value: str, where: str) -> str:
    """Return ``value`` if it holds no control character (newline, tab, escape...).

    Values copied into generated files (crontab lines, workflow names, shell
    commands) must stay on their line.

    Raises:
        BadInput: naming ``where`` and the character.
    """
    for index, char in enumerate(value):
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise BadInput(
                f"{where}: control character {char!r} at position {index} in {value!r}: "
                "expected one line of printable text"
            )
    return value


def validate_endpoint_url(value: Any, where: str = "--endpoint-url") -> str:
    """Return ``value`` if it is an ``http(s)://host[:port]`` URL with a valid port.

    Raises:
        BadInput: naming ``where`` and what was expected.
    """
    expected = "expected http://host:port or https://host[:port]"
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{where} {value!r}: {expected}")
    check_text_value(value, f"{where} {value!r}")
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError as err:
        raise BadInput(f"{where} '{value}' is not a valid URL ({err}): {expected}") from err
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{where} '{value}' is not a valid URL: {expected}")
    if port is not None and port < 1:
        raise BadInput(f"{where} '{value}': port {port} is out of range 1-65535")
    return value


def split_pairs(pairs: Sequence[str], option: str, form: str) -> list[tuple[str, str]]:
    """Split ``KEY=VALUE`` command-line values into (key, value), keys stripped.

    Raises:
        BadInput: a pair has no ``=`` or an empty key; names ``option`` and ``form``.
    """
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"invalid {option} '{pair}': expected {form}")
        out.append((key.strip(), value))
    return out


def one_line(err: BaseException | str, limit: int = 400) -> str:
    """Return an error's message on one line, shortened to ``limit`` characters."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_reachable(endpoint_url: str, target_name: str, timeout: float = 2.0) -> None:
    """Refuse an endpoint that nothing listens on, before any AWS call is attempted.

    Raises:
        BadInput: naming the endpoint and how to start the sandbox.
    """
    parts = urllib.parse.urlsplit(validate_endpoint_url(endpoint_url, "endpoint URL"))
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        hint = (
            "start it with 'chaoskit sandbox up'"
            if target_name == "sandbox"
            else "check --endpoint-url (or start LocalStack)"
        )
        raise BadInput(
            f"nothing answers at {endpoint_url} (target '{target_name}'): {hint}"
        ) from err

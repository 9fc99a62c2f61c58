"""Which AWS services a function's code calls: static analysis of its code folder.

Python: reads every ``.py`` file under the folder (without importing it) and
collects the service names given to ``boto3.client(...)``, ``boto3.resource(...)``,
``session.client(...)`` and the like, as a string literal, positionally or
as ``service_name=``, when the client is used (one stored in a name nothing
reads is never called). Node.js (:func:`aws_services_called_js`): the AWS SDK
for JavaScript modules the ``.js``/``.mjs``/``.cjs``/``.ts`` files import or
require (``@aws-sdk/client-dynamodb``, ``@aws-sdk/lib-dynamodb``), and v2's
``new AWS.DynamoDB(...)`` clients. Dependencies installed into the folder
(``*.dist-info`` siblings, ``site-packages``, ``node_modules``) are skipped:
their calls are not the function's.
"""

import ast
import re
from pathlib import Path

__all__ = ["aws_services_called", "aws_services_called_js", "services_for_runtime"]

_FACTORIES = {"client", "resource"}
_SKIP_DIRS = {"site-packages", "__pycache__", "tests", "test", ".aws-sam", "node_modules"}
_MAX_FILES = 500


def _vendored(path: Path, root: Path) -> bool:
    for parent in path.relative_to(root).parents:
        if parent.name in _SKIP_DIRS:
            return True
        folder = root / parent
        if parent != Path(".") and any(folder.parent.glob(f"{folder.name}-*.dist-info")):
            return True
    return False


def _sources(
    code_dir: str | Path | None, inline_code: str | None, suffixes: tuple[str, ...]
) -> list[str]:
    """Return the inline code and the text of the code folder's own files with ``suffixes``.

    Dependencies installed into the folder and test or type-declaration files are skipped.
    """
    sources: list[str] = [inline_code] if inline_code else []
    root = Path(code_dir) if code_dir else None
    if root is None or not root.is_dir():
        return sources
    files = sorted(p for p in root.rglob("*") if p.suffix in suffixes and p.is_file())
    for path in files[:_MAX_FILES]:
        if _vendored(path, root) or path.name.endswith((".d.ts", ".test.js", ".test.mjs")):
            continue
        try:
            sources.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return sources


def _service_of(call: ast.Call) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in _FACTORIES:
        return None
    arg: ast.expr | None = call.args[0] if call.args else None
    for keyword in call.keywords:
        if keyword.arg == "service_name":
            arg = keyword.value
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
        return arg.value
    return None


def aws_services_called(code_dir: str | Path | None, inline_code: str | None = None) -> list[str]:
    """Return the AWS services the function's code creates clients for, sorted.

    Args:
        code_dir: the function's code folder (``CodeUri``); missing folders give ``[]``.
        inline_code: the function's inline code (``InlineCode``/``ZipFile``), if any.
    """
    found: set[str] = set()
    for source in _sources(code_dir, inline_code, (".py",)):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        found.update(_used_services(tree))
    return sorted(found)


def _target_name(target: ast.expr) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _used_services(tree: ast.AST) -> set[str]:
    """Return the services of the clients a module creates and uses.

    A client stored in a name (or attribute) that nothing reads is never
    called: throttling it would prove nothing.
    """
    assigned: dict[int, str] = {}  # id(call) -> the name it is stored in
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n for n in (_target_name(t) for t in targets) if n]
            if len(names) == 1:
                assigned[id(node.value)] = names[0]
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            read.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            read.add(node.attr)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            service = _service_of(node)
            name = assigned.get(id(node))
            if service and (name is None or name in read):
                out.add(service)
    return out


#: SDK for JavaScript module or v2 class names -> the service names chaoskit's actions take.
_JS_SERVICES = {
    "dynamodb": "dynamodb", "dynamodb-streams": "dynamodbstreams", "sqs": "sqs", "sns": "sns",
    "eventbridge": "events", "cloudwatch-events": "events", "sfn": "stepfunctions",
    "kinesis": "kinesis", "s3": "s3", "lambda": "lambda", "ssm": "ssm",
    "secrets-manager": "secretsmanager", "cloudwatch": "cloudwatch", "sts": "sts",
    "scheduler": "scheduler", "firehose": "firehose", "ses": "ses", "sesv2": "sesv2",
    "stepfunctions": "stepfunctions", "secretsmanager": "secretsmanager",
}  # fmt: skip
_JS_MODULE = re.compile(r"""['"]@aws-sdk/(?:client|lib)-([a-z0-9-]+)['"]""")
_JS_V2 = re.compile(r"\bnew\s+AWS\.([A-Za-z0-9]+)\s*[.(]")
_JS_SUFFIXES = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")


def aws_services_called_js(
    code_dir: str | Path | None, inline_code: str | None = None
) -> list[str]:
    """Return the AWS services a Node.js function's code creates SDK clients for, sorted."""
    found: set[str] = set()
    for source in _sources(code_dir, inline_code, _JS_SUFFIXES):
        for name in _JS_MODULE.findall(source):
            if name in _JS_SERVICES:
                found.add(_JS_SERVICES[name])
        for name in _JS_V2.findall(source):
            service = _JS_SERVICES.get(name.lower())
            if service:
                found.add(service)
    return sorted(found)


def services_for_runtime(
    runtime: str | None, code_dir: str | Path | None, inline_code: str | None = None
) -> list[str] | None:
    """Return the AWS services the code calls, or ``None`` when its language is not read."""
    runtime = str(runtime or "")
    if runtime.startswith("python"):
        return aws_services_called(code_dir, inline_code)
    if runtime.startswith("nodejs"):
        return aws_services_called_js(code_dir, inline_code)
    return None

"""Which AWS services a function's code calls: static analysis of its code folder.

Python: reads the handler's module and the folder's modules it imports (every
``.py`` file of the folder when the handler's module is not there), without
importing them, and collects the service names given to ``boto3.client(...)``,
``boto3.resource(...)``, ``session.client(...)`` and the like, as a string
literal, positionally or as ``service_name=``, when the client is used (one
stored in a name nothing reads is never called). Node.js
(:func:`aws_services_called_js`): the AWS SDK for JavaScript modules the
``.js``/``.mjs``/``.cjs``/``.ts`` files import or require
(``@aws-sdk/client-dynamodb``, ``@aws-sdk/lib-dynamodb``), and v2's
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
    if root is not None and root.is_file():  # CodeUri may name the one file itself
        if root.suffix in suffixes:
            sources.append(root.read_text(encoding="utf-8", errors="replace"))
        return sources
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


def aws_services_called(
    code_dir: str | Path | None, inline_code: str | None = None, handler: str | None = None
) -> list[str]:
    """Return the AWS services the function's code creates clients for, sorted.

    Args:
        code_dir: the function's code folder (``CodeUri``), or its one file when
            ``CodeUri`` names a file; a missing path gives ``[]``.
        inline_code: the function's inline code (``InlineCode``/``ZipFile``), if any.
        handler: the function's ``Handler`` (``module.function``). When its module is in
            the folder, only that module and the folder's modules it imports (directly
            or not) are read: functions often share one folder, and another function's
            clients are not this one's. Otherwise every module of the folder is read.
    """
    modules = _handler_modules(code_dir, handler) if handler and not inline_code else None
    if modules is not None:
        sources = [text for _, text in modules]
    else:
        sources = _sources(code_dir, inline_code, (".py",))
    found: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        found.update(_used_services(tree))
    return sorted(found)


def _module_file(root: Path, dotted: str) -> Path | None:
    """Return the folder's own file of a module (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``)."""
    if not dotted or any(not part.isidentifier() for part in dotted.split(".")):
        return None
    base = root.joinpath(*dotted.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file() and not _vendored(path, root):
            return path
    return None


def _imported(tree: ast.AST, package: str) -> list[str]:
    """Return the modules a module's imports may name (``from a import b``: ``a`` and ``a.b``)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                names.extend(".".join(parts[: i + 1]) for i in range(len(parts)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, *([base] if base else [])])
            if base:
                names.append(base)
            names.extend(f"{base}.{a.name}" if base else a.name for a in node.names)
    return names


def _handler_modules(code_dir: str | Path | None, handler: str) -> list[tuple[Path, str]] | None:
    """Return the handler's module and the folder's modules it imports, ``None`` if not found."""
    root = Path(code_dir) if code_dir else None
    module = handler.rsplit(".", 1)[0].replace("/", ".") if "." in handler else ""
    start = _module_file(root, module) if root and root.is_dir() else None
    if root is None or start is None:
        return None
    todo = [(start, module)]
    seen = {start}
    out: list[tuple[Path, str]] = []
    while todo and len(out) < _MAX_FILES:
        path, dotted = todo.pop()
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
            tree = ast.parse(text)
        except (OSError, SyntaxError, ValueError):
            continue
        out.append((path, text))
        package = dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
        for name in _imported(tree, package):
            found = _module_file(root, name)
            if found is not None and found not in seen:
                seen.add(found)
                todo.append((found, name))
    return out


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
    runtime: str | None,
    code_dir: str | Path | None,
    inline_code: str | None = None,
    handler: str | None = None,
) -> list[str] | None:
    """Return the AWS services the code calls, or ``None`` when its language is not read."""
    runtime = str(runtime or "")
    if runtime.startswith("python"):
        return aws_services_called(code_dir, inline_code, handler)
    if runtime.startswith("nodejs"):
        return aws_services_called_js(code_dir, inline_code)
    return None

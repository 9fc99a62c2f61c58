"""Which AWS services a function's code calls: static analysis of its code folder.

Reads every ``.py`` file under the folder (without importing it) and collects
the service names given to ``boto3.client(...)``, ``boto3.resource(...)``,
``session.client(...)`` and the like, as a string literal, positionally or
as ``service_name=``. Dependencies installed into the folder (``*.dist-info``
siblings, ``site-packages``) are skipped: their calls are not the function's.
"""

import ast
from pathlib import Path

__all__ = ["aws_services_called"]

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
    sources: list[str] = [inline_code] if inline_code else []
    if code_dir:
        root = Path(code_dir)
        files = sorted(root.rglob("*.py")) if root.is_dir() else []
        for path in files[:_MAX_FILES]:
            if _vendored(path, root):
                continue
            try:
                sources.append(path.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
    found: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                service = _service_of(node)
                if service:
                    found.add(service)
    return sorted(found)

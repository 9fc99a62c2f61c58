"""A second door to LocalStack's gateway, for the calls Lambda functions make.

Every AWS call a function makes (``PutItem``, ``Invoke``, its ledger writes, a
Python runtime's result) reaches LocalStack over HTTP. Through LocalStack's
twisted server, one such request passes from the reactor thread to a thread of
its pool and back to the reactor to write the answer: in a profile of the
reference app about a fifth of LocalStack's CPU went to that reactor, and every
hand-over waits for the GIL behind busy threads.

This server hands the same requests to the same gateway (the same handler
chain: parsers, providers, serializers, the per-request log line) from the
thread of their connection (:mod:`.http11`). It listens on 127.0.0.1, on a port
of its own, started with the first execution environment; only the sandbox's
environments are pointed at it (``AWS_ENDPOINT_URL`` and the Python runtime's
result endpoint, in :mod:`.executor`). Everything else, the user's SDK and the
CLI included, goes through the twisted server on the sandbox's port. If it
cannot start, the functions use that port too.

One handler of the chain is made cheaper for every request, on both doors
(:func:`patches`): LocalStack's internal resources (``/_localstack/health`` and
the like) were matched against every request's path by werkzeug's router, which
failed with ``NotFound`` for each AWS call (5% of LocalStack's CPU under the
reference app's orders). A path whose first segment no internal route starts with
cannot match one, so it goes on down the chain at once. And LocalStack's edge routes
(API Gateway, function URLs and the like, some of them matched on the host) were
matched against every AWS call too, with the same ``NotFound`` (4% under the same
load): a router now remembers, per routing table, the requests none of its routes
matched (:func:`dispatch`).
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlsplit

from .http11 import HttpServer, Reply, Request

if TYPE_CHECKING:  # importable without LocalStack: the adapter is tested on its own
    from localstack.utils.patch import Patch

LOG = logging.getLogger(__name__)

__all__ = ["endpoint_url", "patches", "wsgi_handler"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_handler(app: WsgiApp) -> Callable[[Request], Reply]:
    """Adapt a WSGI application (rolo's ``WsgiGateway``) to :class:`.http11.HttpServer`."""

    def handle(request: Request) -> Reply:
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return _no_write

        environ = _environ(request)
        result = app(environ, start_response)
        parts = iter(result)
        first = next(parts, b"")  # a WSGI app may call start_response on its first part
        status, headers = started
        return status, headers, _body(first, parts, result)

    return handle


def _no_write(data: bytes) -> None:
    raise NotImplementedError("the WSGI write() callable is not supported")


def _body(first: bytes, parts: Iterator[bytes], result: Iterable[bytes]) -> Iterator[bytes]:
    try:
        yield first
        yield from parts
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _environ(request: Request) -> dict[str, Any]:
    target = request.target
    host = None
    if target.startswith(("http://", "https://")):  # absolute form (RFC 9112 3.2.2)
        url = urlsplit(target)
        path, query, host = url.path or "/", url.query, url.netloc
    else:
        path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "REQUEST_URI": target,
        "RAW_URI": target,
        "REMOTE_ADDR": str(request.peer[0]),
        "REMOTE_PORT": str(request.peer[1]),
        "SERVER_NAME": str(request.local[0]),
        "SERVER_PORT": str(request.local[1]),
        "SERVER_PROTOCOL": request.version,
        "CONTENT_LENGTH": str(len(request.body)),  # of the body as read (dechunked)
        "rolo.headers": request.headers,  # rolo rebuilds the headers from these, names as sent
    }
    for name, value in request.headers:
        key = name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key == "CONTENT_TYPE":
            environ[key] = text
        elif key != "CONTENT_LENGTH":
            key = f"HTTP_{key}"
            environ[key] = f"{environ[key]},{text}" if key in environ else text
    if host:
        environ["HTTP_HOST"] = host
    return environ


_LOCK = threading.Lock()
_STARTED: list[HttpServer | None] = []  # empty until the first call; [None] if it failed


def endpoint_url() -> str | None:
    """The function gateway's URL, started on first use; None if it could not start."""
    with _LOCK:
        if not _STARTED:
            server: HttpServer | None = None
            try:
                from localstack.runtime.current import get_current_runtime
                from rolo.gateway.wsgi import WsgiGateway

                app = WsgiGateway(get_current_runtime().components.gateway)
                server = HttpServer(wsgi_handler(app), "chaoskit-function-gateway")
                server.start()
            except Exception as err:  # the functions keep the twisted server then
                LOG.warning("function gateway not started (%s): functions use the main port", err)
                server = None
            _STARTED.append(server)
        started = _STARTED[0]
        return None if started is None else f"http://127.0.0.1:{started.port}"


def _first_segments(router: Any) -> frozenset[str] | None:
    """The literal first path segments of ``router``'s rules; ``None`` if one is a variable."""
    rules = tuple(rule.rule for rule in router.url_map.iter_rules())
    cached = getattr(router, "chaoskit_first_segments", None)
    if cached is not None and cached[0] == rules:
        return cached[1]
    firsts = {rule.lstrip("/").split("/", 1)[0] for rule in rules}
    literal = all(first and "<" not in first for first in firsts)
    segments = frozenset(firsts) if literal else None
    router.chaoskit_first_segments = (rules, segments)
    return segments


def resource_handler(original: Any, self: Any, chain: Any, context: Any, response: Any) -> None:
    """Match the internal resources only against a path one of their routes could match."""
    segments = _first_segments(self.resources)
    first = context.request.path.lstrip("/").split("/", 1)[0]
    if segments is not None and first not in segments:
        return
    original(self, chain, context, response)


#: Requests remembered as matching no route, per routing table; past this many the
#: table's memory starts again (each S3 object's path, say, is a request of its own).
MISSES_KEPT = 4096


def dispatch(original: Any, self: Any, request: Any) -> Any:
    """Rolo's ``Router.dispatch``, remembering which requests no route of the table matched.

    Whether a request matches depends on its host, method and path, and on the table,
    which rolo never changes in place: adding or removing a route makes a new one, so
    what is remembered is kept on the table. Only a failed match is remembered, never
    a ``NotFound`` that a matched route's handler raised.
    """
    from rolo.request import get_raw_path
    from werkzeug.exceptions import NotFound

    url_map = self.url_map
    raw = request.environ.get("RAW_URI") if hasattr(request, "environ") else None
    if not raw:
        return original(self, request)
    key = (request.host, request.method, raw)  # the path and its query: no parsing
    misses: set[tuple[str, str, str]] | None = url_map.__dict__.get("chaoskit_misses")
    if misses is not None and key in misses:
        raise NotFound()
    matcher = url_map.bind(server_name=request.host)
    try:
        handler, args = matcher.match(get_raw_path(request), method=request.method)
    except NotFound:
        if misses is None or len(misses) >= MISSES_KEPT:
            misses = url_map.chaoskit_misses = set()
        misses.add(key)
        raise
    args.pop("__host__", None)
    return self.dispatcher(request, handler, args)


def patches() -> list[Patch]:
    """Routing without the matches that cannot succeed: internal resources, edge routes."""
    from localstack.aws.handlers.internal import LocalstackResourceHandler
    from rolo.routing.router import Router

    from .patching import wrap

    return [
        wrap(LocalstackResourceHandler, "__call__", resource_handler),
        wrap(Router, "dispatch", dispatch),
    ]

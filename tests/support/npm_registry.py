"""A small npm registry on 127.0.0.1: packuments and tarballs of packages made here.

npm installs from it for real (``npm_config_registry``), so the sandbox's install of
the AWS SDK for JavaScript is tested without reaching the public registry.
"""

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from tests.support.net import serve_http

__all__ = ["Registry", "npm_registry"]


def _tarball(name: str, version: str, files: dict[str, str]) -> bytes:
    manifest = {"name": name, "version": version, "main": "index.js"}
    contents = {"package.json": json.dumps(manifest), **files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in sorted(contents.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"package/{path}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Registry:
    """What the registry serves, and the package documents asked for."""

    url: str = ""
    #: name -> version -> (publish time, tarball bytes)
    packages: dict[str, dict[str, tuple[str, bytes]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def publish(self, name: str, version: str, when: str, files: dict[str, str]) -> None:
        """Add ``name@version``, published at ``when`` (ISO time), with ``files``."""
        self.packages.setdefault(name, {})[version] = (when, _tarball(name, version, files))

    def packument(self, name: str) -> dict[str, Any]:
        versions: dict[str, Any] = {}
        times: dict[str, str] = {}
        for version, (when, data) in self.packages[name].items():
            digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
            versions[version] = {
                "name": name,
                "version": version,
                "main": "index.js",
                "dist": {
                    "tarball": f"{self.url}/-/tarballs/{name.replace('/', '__')}/{version}.tgz",
                    "shasum": hashlib.sha1(data).hexdigest(),
                    "integrity": f"sha512-{digest}",
                },
            }
            times[version] = when
        latest = max(self.packages[name], key=lambda v: tuple(int(p) for p in v.split(".")))
        times.update({"created": min(times.values()), "modified": max(times.values())})
        return {"name": name, "dist-tags": {"latest": latest}, "versions": versions, "time": times}


@contextmanager
def npm_registry() -> Iterator[Registry]:
    """Serve a :class:`Registry` on a free port of 127.0.0.1 while the block runs."""
    registry = Registry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = unquote(self.path.split("?", 1)[0])
            registry.requests.append(path)
            body, kind = b"", "application/json"
            if path.startswith("/-/tarballs/"):
                _, name, version = path[len("/-/") :].split("/", 2)
                entry = registry.packages.get(name.replace("__", "/"), {}).get(version[:-4])
                if entry is not None:
                    body, kind = entry[1], "application/octet-stream"
            elif path.lstrip("/") in registry.packages:
                body = json.dumps(registry.packument(path.lstrip("/"))).encode()
            if not body:
                self.send_response(404)
                body = b'{"error": "not found"}'
            else:
                self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serve_http(Handler) as url:
        registry.url = url
        yield registry

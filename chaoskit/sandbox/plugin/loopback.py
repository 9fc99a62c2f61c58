"""Keep every listener of the sandbox on the loopback interface.

The sandbox's API has no authentication and runs Lambda code as local
processes: nothing it starts may be reachable from another machine. Two of
LocalStack's listeners ignore the address they are given:

1. The gateway: LocalStack's twisted server opens ``TCP4ServerEndpoint(reactor,
   port)`` without an interface, so ``GATEWAY_LISTEN=127.0.0.1:<port>`` still
   listens on 0.0.0.0 (the IPv6 branch passes the interface; the IPv4 one has
   a ``TODO: interface = host?``). The patched ``register`` passes it.
2. Kinesis: kinesis-local (kinesis-mock compiled to JavaScript) listens on
   0.0.0.0 on two random ports and has no setting for the address. Its node
   process is started with ``--require`` of a small script that puts listeners
   that ask for every interface (no host, ``0.0.0.0``, ``::``) on 127.0.0.1.

Applied by an ``on_infra_start`` hook, which LocalStack runs before it opens
the gateway. ``tests/sandbox/test_sandbox_loopback.py`` lists the listening
sockets of the sandbox's process tree and connects to each one through a
non-loopback address of the machine.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)

#: Preloaded into node processes LocalStack starts for kinesis.
NODE_LOOPBACK_JS = r"""'use strict';
// chaoskit: listeners that ask for every interface listen on 127.0.0.1 only.
const net = require('net');
const listen = net.Server.prototype.listen;
const WILDCARD = new Set(['0.0.0.0', '::', '', '0:0:0:0:0:0:0:0']);
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first === undefined || typeof first === 'function') {
    args.splice(0, first === undefined ? 1 : 0, 0, '127.0.0.1');
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] === 'string') {
      if (WILDCARD.has(args[1])) args[1] = '127.0.0.1';
    } else {
      args.splice(1, 0, '127.0.0.1');
    }
  } else if (first !== null && typeof first === 'object' && !('fd' in first) &&
             !('_handle' in first) && !('path' in first) && !('handle' in first)) {
    if (first.host === undefined || WILDCARD.has(first.host)) {
      args[0] = Object.assign({}, first, {host: '127.0.0.1'});
    }
  }
  return listen.apply(this, args);
};
"""


def _node_shim() -> str:
    folder = Path(os.environ.get("TMPDIR") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "chaoskit-loopback-listen.js"
    path.write_text(NODE_LOOPBACK_JS, encoding="utf-8")
    return str(path)


def _patch_gateway() -> None:
    from localstack import config
    from localstack.runtime.server import twisted as server
    from localstack.utils.patch import patch

    @patch(server.TwistedRuntimeServer.register)
    def register(fn: Any, self: Any, gateway: Any, listen: Any, ssl_creds: Any = None) -> None:
        site = server.TwistedGateway(gateway)
        if ssl_creds:
            cert_file_name, key_file_name = ssl_creds
            factory = server.ssl.DefaultOpenSSLContextFactory(key_file_name, cert_file_name)
            factory.getContext().use_certificate_chain_file(cert_file_name)
            protocol_factory: Any = server.TLSMultiplexerFactory(factory, False, site)  # type: ignore[arg-type]  # zope interfaces
        else:
            protocol_factory = site
        for host_and_port in listen:
            kind = (
                server.endpoints.TCP6ServerEndpoint
                if config.is_ipv6_address(host_and_port.host)
                else server.endpoints.TCP4ServerEndpoint
            )
            endpoint = kind(server.reactor, host_and_port.port, interface=host_and_port.host)
            endpoint.listen(protocol_factory)


def _patch_kinesis() -> None:
    from localstack.services.kinesis import kinesis_mock_server as kms
    from localstack.utils.patch import patch

    shim = _node_shim()

    @patch(kms.KinesisMockNodeServer._create_shell_command)
    def _create_shell_command(fn: Any, self: Any) -> tuple[list, dict]:
        cmd, env = fn(self)
        if cmd and cmd[0] == "node" and "--require" not in cmd:
            cmd = [cmd[0], "--require", shim, *cmd[1:]]
        return cmd, env


@hooks.on_infra_start()
def chaoskit_bind_loopback() -> None:
    """Put the gateway and kinesis-local on 127.0.0.1 (LocalStack calls this at start)."""
    _patch_gateway()
    _patch_kinesis()
    LOG.debug("chaoskit: gateway and kinesis listeners bound to 127.0.0.1")

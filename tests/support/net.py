"""Ports on 127.0.0.1 for the servers tests start."""

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now.

    The port is closed again before returning: the caller binds it (or, to
    test a refused connection, leaves it closed).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

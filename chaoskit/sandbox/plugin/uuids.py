"""``uuid.uuid4`` with the operating system's random bytes read 4 KB at a time.

LocalStack makes several random UUIDs for every request (request ids, message
ids, receipt handles, invocation ids). Each ``uuid.uuid4()`` is one ``getrandom``
system call, during which Python releases the GIL: with LocalStack's many
threads the caller then often sleeps until another thread hands the GIL back
(about 5% of that process's context switches in a profile of the reference
app). Here one call reads 256 UUIDs' worth of bytes. The bytes are the same
kind (``os.urandom``), each used once; a forked child starts with none.
"""

from __future__ import annotations

import os
import uuid

from localstack.utils.patch import Patch

from .patching import replace

#: Bytes read from the operating system at a time (16 per UUID).
BLOCK = 4096

_pool: list[bytes] = []
os.register_at_fork(after_in_child=_pool.clear)


def uuid4() -> uuid.UUID:
    """A random (version 4) UUID, as ``uuid.uuid4`` makes it."""
    try:
        raw = _pool.pop()  # atomic: no two callers get the same bytes
    except IndexError:
        block = os.urandom(BLOCK)
        _pool.extend(block[start : start + 16] for start in range(16, BLOCK, 16))
        raw = block[:16]
    return uuid.UUID(bytes=raw, version=4)


def patches() -> list[Patch]:
    """The UUID patch."""
    return [replace(uuid, "uuid4", uuid4)]

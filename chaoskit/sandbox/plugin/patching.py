"""How the sandbox patches LocalStack: reversibly, and only the version it was written for.

Every change to LocalStack's internals goes through LocalStack's own
``localstack.utils.patch.Patch`` (undo restores the original), is declared by a
module's ``patches()`` and is applied by :func:`apply_all` from one start hook.
The patches read LocalStack internals that change between releases, so the
hook first checks the installed ``localstack-core`` is the release they were
written for and refuses to start LocalStack otherwise.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from typing import Any

from localstack.utils.patch import Patch, Patches

LOG = logging.getLogger(__name__)

#: The localstack-core release every patch here was written against.
LOCALSTACK_VERSION = "2026.3.0"


class UnsupportedLocalStackError(RuntimeError):
    """The installed LocalStack is not the release the sandbox's patches were written for."""


def installed_version() -> str:
    """Return the installed localstack-core version."""
    return importlib.metadata.version("localstack-core")


def check_version(found: str | None = None) -> None:
    """Raise :class:`UnsupportedLocalStackError` unless LocalStack is :data:`LOCALSTACK_VERSION`."""
    found = installed_version() if found is None else found
    if found != LOCALSTACK_VERSION:
        raise UnsupportedLocalStackError(
            f"chaoskit's sandbox patches were written for localstack-core {LOCALSTACK_VERSION}, "
            f"found {found}: reinstall the sandbox (delete its venv) so the pinned version is used"
        )


def replace(owner: Any, name: str, new: Any) -> Patch:
    """Return a patch that replaces ``owner.name`` with ``new`` (a function gets no original)."""
    if not hasattr(owner, name):
        raise UnsupportedLocalStackError(f"LocalStack has no {owner.__name__}.{name} to patch")
    return Patch(owner, name, new)


def wrap(owner: Any, name: str, new: Callable[..., Any]) -> Patch:
    """Return a patch calling ``new(original, *args, **kwargs)`` in place of ``owner.name``."""
    original = getattr(owner, name, None)
    if original is None:
        raise UnsupportedLocalStackError(f"LocalStack has no {owner.__name__}.{name} to patch")

    @functools.wraps(original)
    def proxy(*args: Any, **kwargs: Any) -> Any:
        return new(original, *args, **kwargs)

    return Patch(owner, name, proxy)


APPLIED = Patches()


def apply_all(groups: Iterable[Callable[[], list[Patch]]]) -> Patches:
    """Check the LocalStack version, then build and apply every group's patches."""
    check_version()
    for group in groups:
        for patch in group():
            patch.apply()
            APPLIED.add(patch)
    LOG.debug("chaoskit: applied %d LocalStack patches", len(APPLIED.patches))
    return APPLIED

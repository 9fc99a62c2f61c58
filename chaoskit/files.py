"""Create chaoskit's own files so that only their owner can read them.

Journals, the undo store and the game day history say which resources were
changed, how, and how to undo it: they are created ``0600`` in folders
created ``0700`` (whatever the umask), and chaoskit's home folder
(``$CHAOSKIT_HOME``, default ``.chaoskit``) and its subfolders are tightened
to ``0700`` when chaoskit uses them. Folders the user named that already
exist (``--journal /tmp/x.json``) are left as they are.
"""

import contextlib
import os
import stat
from pathlib import Path
from typing import IO

from chaoskit import envvars

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "append_private",
    "home_dir",
    "private_dir",
    "touch_private",
    "write_private",
]

FILE_MODE = 0o600
DIR_MODE = 0o700


def home_dir() -> Path:
    """Return chaoskit's home folder (``$CHAOSKIT_HOME`` or ``.chaoskit``), not created."""
    return Path(os.environ.get(envvars.HOME) or ".chaoskit")


def _is_under_home(folder: Path) -> bool:
    home = home_dir().absolute()
    absolute = folder.absolute()
    return absolute == home or home in absolute.parents


def private_dir(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` and its missing parents ``0700``; tighten it if it is chaoskit's home.

    Returns:
        ``folder`` as a :class:`~pathlib.Path`.
    """
    path = Path(folder)
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for item in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(item, DIR_MODE)
        os.chmod(item, DIR_MODE)  # mkdir's mode is masked by the umask
    if _is_under_home(path):
        home = home_dir().absolute()
        for item in [path.absolute(), *path.absolute().parents]:
            _tighten(item, DIR_MODE)
            if item == home:
                break
    return path


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):  # not ours: leave it
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
            os.chmod(path, mode)


def _open_private(path: Path, flags: int) -> int:
    private_dir(path.parent)
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    with contextlib.suppress(OSError):
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode otherwise
    return fd


def write_private(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path``, created or truncated, mode ``0600``."""
    file = Path(path)
    fd = _open_private(file, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return file


def append_private(path: str | os.PathLike[str]) -> IO[str]:
    """Open ``path`` for appending text (UTF-8), created ``0600``."""
    fd = _open_private(Path(path), os.O_WRONLY | os.O_APPEND)
    return os.fdopen(fd, "a", encoding="utf-8")


def touch_private(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty if missing (mode ``0600``) and tighten its mode; return it."""
    file = Path(path)
    os.close(_open_private(file, os.O_RDONLY))
    return file

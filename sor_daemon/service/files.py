"""State files and directories are the owner's alone: orders, fills and FIX messages are
nobody else's business on a shared host."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077
"""Set by the processes that write state (`sor-daemon run`, `sim`, `demo`), so that what
libraries create for them (quickfix's FileStore and FileLog, SQLite's WAL) is 0600 too."""


def private_dir(path: str | Path) -> None:
    """``path`` and its missing parents, each created mode 0700 whatever the umask."""
    missing = []
    at = Path(path)
    while not at.exists():
        missing.append(at)
        at = at.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)


def private_open(path: str | Path, flags: int) -> int:
    """A file descriptor of ``path`` (created if ``flags`` say so), mode 0600 whatever the
    umask or the mode it had."""
    fd = os.open(path, flags | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd

"""Keep only the hour in what the file system records: every access and modification time.

A folder's mtime moves when a tip is added to it or removed from it, and a
file's atime when it is read, each to the nanosecond. Rounding them down to
the hour after each change leaves a copy of the data folder (a backup, a
`tar --full-time`) no finer time than the database keeps. Inode change times
cannot be set by anyone; docs/threat-model.md says what that leaves.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

HOUR_NS = 3600 * 10**9


def floor_hour(t_ns: int) -> int:
    return t_ns - t_ns % HOUR_NS


def to_the_hour(paths: Iterable[Path]) -> None:
    """Round each path's atime and mtime down to the hour; a path already there is not touched.

    Not touching what is already rounded matters: every utime sets the
    inode's change time to now. A path that is gone, or that belongs to
    someone else (a key file owned by root), is left as it is.
    """
    for path in paths:
        try:
            st = os.stat(path, follow_symlinks=False)
            times = (floor_hour(st.st_atime_ns), floor_hour(st.st_mtime_ns))
            if times != (st.st_atime_ns, st.st_mtime_ns):
                os.utime(path, ns=times, follow_symlinks=False)
        except (FileNotFoundError, PermissionError):
            continue


def open_quietly(path: Path, flags: int = os.O_RDONLY) -> int:
    """Open for reading without moving the atime, which would keep the time of the read.

    Linux grants O_NOATIME to the file's owner only: anyone else reads as usual,
    and then only a `noatime` mount keeps the time (docs/install.md).
    """
    try:
        return os.open(path, flags | getattr(os, "O_NOATIME", 0))
    except PermissionError:
        return os.open(path, flags)


def read_quietly(path: Path) -> bytes:
    with os.fdopen(open_quietly(path), "rb") as f:
        return f.read()


def list_quietly(folder: Path) -> list[str]:
    """The names in a folder, read without moving the folder's atime."""
    fd = open_quietly(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def walk(root: Path, prune: frozenset[Path] = frozenset()) -> list[Path]:
    """Root and everything under it, without descending into the folders in `prune`."""
    out, todo = [], [root]
    while todo:
        path = todo.pop()
        out.append(path)
        if path in prune or path.is_symlink() or not path.is_dir():
            continue
        try:
            todo += path.iterdir()
        except (FileNotFoundError, PermissionError):
            continue
    return out

"""A random per-installation secret kept in a file of its own (CSRF secrets, the TOTP key).

Made once, readable only by its owner, and published atomically: several
gunicorn workers may start at the same moment, and none may ever read a
half-written secret.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from .filetimes import read_quietly, to_the_hour

SIZE = 32


class SecretFileError(Exception):
    """A secret file exists but cannot be used; the message says which and what to do."""


def load_or_create(path: Path, size: int = SIZE) -> bytes:
    """The secret in `path`, made (0600, in a 0700 folder) if there is none yet.

    Read without moving its atime, and its folder's times kept to the hour, like
    every other file of the data folder: a secret is read at each start.
    """
    try:
        data = read_quietly(path)
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _publish(path, os.urandom(size))
        data = read_quietly(path)
    to_the_hour([path.parent, path])
    if len(data) != size:
        raise SecretFileError(
            f"{path} holds {len(data)} bytes, not {size}: it is damaged. Restore it from the backup."
        )
    return data


def _publish(path: Path, data: bytes) -> None:
    """Write to a private temporary name, fsync, then link into place: the first writer wins."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another worker made it first: theirs stands
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

"""Watch a folder with Linux inotify (through ctypes): every open, read, write or creation in it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from pathlib import Path

IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x1, 0x2, 0x4, 0x8
IN_CLOSE_NOWRITE, IN_OPEN, IN_MOVED_FROM, IN_MOVED_TO = 0x10, 0x20, 0x40, 0x80
IN_CREATE, IN_DELETE = 0x100, 0x200
IN_ALL = 0xFFF
IN_NONBLOCK = os.O_NONBLOCK
HEADER = struct.Struct("iIII")


class FolderWatch:
    """Every event on a folder and the files directly in it, from now until `events()` is read."""

    def __init__(self, folder: Path) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = self._libc.inotify_init1(IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self._libc.inotify_add_watch(self._fd, os.fsencode(folder), IN_ALL) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")

    def events(self) -> list[tuple[int, str]]:
        """(mask, name) of what happened so far; name is "" for the folder itself."""
        out, data = [], b""
        while True:
            try:
                data += os.read(self._fd, 65536)
            except BlockingIOError:
                break
        pos = 0
        while pos < len(data):
            _wd, mask, _cookie, length = HEADER.unpack_from(data, pos)
            name = data[pos + HEADER.size : pos + HEADER.size + length].rstrip(b"\0").decode()
            out.append((mask, name))
            pos += HEADER.size + length
        return out

    def close(self) -> None:
        os.close(self._fd)

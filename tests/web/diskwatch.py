"""Watch every file created or written under some folders while something runs (Linux inotify).

A scan of the disk after an upload cannot see a file that was written and
deleted before the answer came. This watches instead, through inotify (by
ctypes, no dependency): each file created, moved in or written is opened at
once and held open, so its content can still be read after it is deleted,
and every path created or deleted is recorded, so that a file too
short-lived to open is still seen.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from tests.web.kernelevents import EventReader

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
MASK = IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE
EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


@dataclass
class DiskWatch(EventReader):
    """with DiskWatch([folders]) as w: ...; then w.created, w.deleted (paths), w.contents (path -> bytes).

    A file renamed away is not in `deleted`: it lives on under its new name.
    """

    folders: list[Path]
    created: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)
    # Every version of each file read while watching, and at the end through the held fds.
    contents: dict[Path, bytes] = field(default_factory=dict)
    _held: dict[Path, list[int]] = field(default_factory=dict)
    _seen: dict[Path, list[bytes]] = field(default_factory=dict)
    _wds: dict[int, Path] = field(default_factory=dict)

    def __enter__(self) -> DiskWatch:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._add_watch = libc.inotify_add_watch
        self._add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        for folder in self.folders:
            self._watch_tree(folder, record=False)
        self._start_reading()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_reading()
        for path, fds in self._held.items():
            for fd in fds:
                self._read(path, fd)  # deleted files too: the fd keeps them
                os.close(fd)
        self._held.clear()
        self.contents = {path: b"\0".join(versions) for path, versions in self._seen.items()}

    def _watch_tree(self, folder: Path, record: bool) -> None:
        wd = self._add_watch(self._fd, os.fsencode(folder), MASK)
        if wd < 0:
            if ctypes.get_errno() in (errno.ENOENT, errno.ENOTDIR):
                return  # gone already
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
        self._wds[wd] = folder
        # What was made in the folder before the watch took hold.
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    if record:
                        self.created.append(path)
                    self._watch_tree(path, record)
                elif record:
                    self.created.append(path)
                    self._hold(path)

    def _hold(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return  # gone, or not a regular file: its path is recorded all the same
        self._held.setdefault(path, []).append(fd)
        self._read(path, fd)

    def _read(self, path: Path, fd: int) -> None:
        with contextlib.suppress(OSError):
            data = os.pread(fd, 1 << 30, 0)
            versions = self._seen.setdefault(path, [])
            if not versions or versions[-1] != data:
                versions.append(data)

    def _events(self, buf: bytes) -> None:
        offset = 0
        while offset < len(buf):
            wd, mask, _cookie, length = EVENT.unpack_from(buf, offset)
            raw = buf[offset + EVENT.size : offset + EVENT.size + length].rstrip(b"\0")
            offset += EVENT.size + length
            folder = self._wds.get(wd)
            if folder is None or not raw:
                continue
            path = folder / os.fsdecode(raw)
            if mask & IN_DELETE:
                self.deleted.append(path)
            elif mask & (IN_CREATE | IN_MOVED_TO):
                self.created.append(path)
                if mask & IN_ISDIR:
                    self._watch_tree(path, record=True)
                else:
                    self._hold(path)
            elif mask & (IN_MODIFY | IN_CLOSE_WRITE):
                for fd in self._held.get(path, []):
                    self._read(path, fd)
                if path not in self._held:
                    self._hold(path)

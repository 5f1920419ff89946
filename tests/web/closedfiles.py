"""Every file some processes write and close, caught by fanotify the moment it is closed.

The descriptor scan of tests/web/openfiles.py sees a file while a worker holds
it; a temporary file written and closed within a millisecond slips between two
scans. fanotify, marked on whole file systems for FAN_CLOSE_WRITE, reports
every close of a file that was open for writing, with a descriptor of the file
itself: an unnamed O_TMPFILE file too, kept alive by that descriptor until it
is read here. The kernel queues the event at the close, before the process can
answer, so nothing it wrote before its answer is missed. Needs CAP_SYS_ADMIN.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import unavailable
from tests.packages import AS_ROOT
from tests.web.kernelevents import EventReader

FAN_CLOEXEC, FAN_NONBLOCK, FAN_CLASS_NOTIF = 0x1, 0x2, 0x0
FAN_MARK_ADD, FAN_MARK_FILESYSTEM = 0x1, 0x100
FAN_CLOSE_WRITE = 0x8
FAN_Q_OVERFLOW = 0x4000
AT_FDCWD = -100
EVENT = struct.Struct("IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid
READ_AT_MOST = 64 << 20


@dataclass(frozen=True)
class Closed:
    """A file one of the processes wrote and closed: its path then, and all it held."""

    pid: int
    target: str
    content: bytes


@dataclass
class ClosedFiles(EventReader):
    """with ClosedFiles(folders, pids) as w: ...; then w.closed, every file `pids()` wrote and closed.

    `folders` name the file systems to watch (each one's whole file system);
    `pids` says, when an event comes, which processes count.
    """

    folders: list[Path]
    pids: Callable[[], set[int]]
    closed: list[Closed] = field(default_factory=list)

    def __enter__(self) -> ClosedFiles:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.fanotify_mark.argtypes = [
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint64,
            ctypes.c_int,
            ctypes.c_char_p,
        ]
        self._fd = libc.fanotify_init(
            FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC
        )
        if self._fd < 0:
            err = ctypes.get_errno()
            if err in (errno.EPERM, errno.ENOSYS):
                unavailable(f"fanotify needs root (CAP_SYS_ADMIN) on Linux ({os.strerror(err)}): {AS_ROOT}")
            raise OSError(err, "fanotify_init failed")
        for folder in self.folders:
            if (
                libc.fanotify_mark(
                    self._fd,
                    FAN_MARK_ADD | FAN_MARK_FILESYSTEM,
                    FAN_CLOSE_WRITE,
                    AT_FDCWD,
                    os.fsencode(folder),
                )
                < 0
            ):
                err = ctypes.get_errno()
                os.close(self._fd)
                raise OSError(err, f"fanotify_mark {folder}: {os.strerror(err)}")
        self._start_reading()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_reading()

    def _events(self, buf: bytes) -> None:
        ours = self.pids()
        offset = 0
        while offset < len(buf):
            length, _vers, _res, _meta, mask, fd, pid = EVENT.unpack_from(buf, offset)
            offset += length
            if mask & FAN_Q_OVERFLOW:
                raise AssertionError("fanotify's queue overflowed: some closed files went unseen")
            if fd < 0:
                continue
            try:
                if pid in ours:
                    self.closed.append(Closed(pid, os.readlink(f"/proc/self/fd/{fd}"), _read(fd)))
            finally:
                os.close(fd)


def _read(fd: int) -> bytes:
    with contextlib.suppress(OSError):
        return os.pread(fd, min(os.fstat(fd).st_size, READ_AT_MOST), 0)
    return b""

"""Every regular file a server's workers hold open, seen through /proc while a request is in flight.

A watch on folders (tests/web/diskwatch.py) sees only files that have a name
in a folder. Python's tempfile.TemporaryFile, which Werkzeug's
SpooledTemporaryFile rolls over to past 500 KiB, opens with O_TMPFILE on
Linux: an inode that never has a name, so inotify reports nothing and no scan
finds it. It does show as an open descriptor of the process that holds it:
/proc/<pid>/fd/N links to "<dir>/#<inode> (deleted)", and opening that link
reads the file all the same. So this lists the descriptors of every worker
(the children of the server's master), again and again while a body streams
in slowly (send_slowly), and reads whatever is not one of the files a worker
is expected to hold. A file written and closed between two looks is caught
as it closes (tests/web/closedfiles.py, fanotify).
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.web.closedfiles import ClosedFiles
from tests.web.server import Server

O_TMPFILE_BIT = 0o20000000  # __O_TMPFILE, as fdinfo's "flags:" shows it
# gunicorn's heartbeat: made with mkstemp in TMPDIR, unlinked at once, never written (workertmp.py).
HEARTBEAT = re.compile(r"^wgunicorn-[A-Za-z0-9_]{8} \(deleted\)$")
UNNAMED = re.compile(r"/#\d+ \(deleted\)$")  # how /proc shows an O_TMPFILE file
READ_AT_MOST = 64 << 20
ESTABLISHED = "01"  # the state column of /proc/net/tcp
LIBRARIES = tuple(
    {
        str(Path(p).resolve()) + "/"
        for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr/lib", "/usr/share")
    }
)
# Envelopes as they are written (pending/) and once kept (renamed into submissions/ or replies/
# before a close can be looked at), the apps' secrets, the recipients' public keys.
STORE_AND_SECRETS = ("store/pending", "store/submissions", "store/replies", "source", "journalist", "keys")
SQLITE = re.compile(r"^tipline\.sqlite3(-journal)?$")
CODE = str(Path(__file__).resolve().parents[2] / "tipline") + "/"  # its modules and static files


@dataclass(frozen=True)
class OpenFile:
    """One regular file a worker held: where its descriptor pointed, and what it held then."""

    pid: int
    fd: int
    target: str
    size: int
    tmpfile: bool  # opened with O_TMPFILE: a file no folder ever named
    content: bytes = b""

    def describe(self, marker: bytes) -> str:
        how = "O_TMPFILE, " if self.tmpfile else ""
        at = self.content.find(marker)
        leak = f"HOLDS THE PLAINTEXT: {self.content[at : at + 60]!r}" if at >= 0 else "no marker in it"
        held = f"fd {self.fd} ->" if self.fd >= 0 else "wrote and closed"
        return f"worker {self.pid} {held} {self.target} ({how}{self.size} bytes, {leak})"


def workers_of(master: int) -> list[int]:
    """The master's children, from /proc (gunicorn forks each worker from the master)."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    return [int(p) for p in children]


def open_files(pid: int) -> list[OpenFile]:
    """The regular files process `pid` has open now, without their content (gone fds skipped)."""
    out = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out  # the worker exited
    for name in fds:
        link = f"/proc/{pid}/fd/{name}"
        try:
            target = os.readlink(link)
            if not target.startswith("/"):
                continue  # socket:[..], pipe:[..], anon_inode:..
            st = os.stat(link)
            if not stat.S_ISREG(st.st_mode):
                continue  # /dev/null, /dev/urandom, folders
            flags = int(
                re.search(r"^flags:\s+([0-7]+)", Path(f"/proc/{pid}/fdinfo/{name}").read_text(), re.M)[1], 8
            )
        except (OSError, TypeError):
            continue  # closed between the listing and the look
        out.append(OpenFile(pid, int(name), target, st.st_size, bool(flags & O_TMPFILE_BIT)))
    return out


def read_through(f: OpenFile) -> OpenFile:
    """The same file with its content, read through the worker's own descriptor (deleted or not)."""
    try:
        with open(f"/proc/{f.pid}/fd/{f.fd}", "rb") as fh:
            content = fh.read(min(os.fstat(fh.fileno()).st_size, READ_AT_MOST))
    except OSError:
        return f  # closed meanwhile: its path and size are kept
    return OpenFile(f.pid, f.fd, f.target, max(f.size, len(content)), f.tmpfile, content)


@dataclass
class OpenFileWatch:
    """with OpenFileWatch(server, marker) as w: ...; then w.report() lists what should not be.

    Scans the workers' descriptors in a thread for as long as it runs, and on
    every scan() call. `unexpected` keeps, per (pid, fd, target), the largest
    version read of each file that is not one a worker should hold; a deep
    scan also reads the expected files under the data folder, and `marked`
    keeps those that hold the marker. `seen` is every target seen at all, so
    a test can show the watch looked while the upload was in flight.
    """

    server: Server
    marker: bytes
    unexpected: dict[tuple[int, int, str], OpenFile] = field(default_factory=dict)
    marked: dict[tuple[int, int, str], OpenFile] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> OpenFileWatch:
        assert self.server.proc is not None
        master = self.server.proc.pid
        folders = [self.server.data_dir, self.server.tmp_dir]
        self._closed = ClosedFiles(folders, lambda: set(workers_of(master))).__enter__()
        self._stop = threading.Event()
        self.scan(deep=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.scan(deep=True)
        self._closed.__exit__(*exc)
        for c in self._closed.closed:  # the files written and closed too fast for a scan
            f = OpenFile(c.pid, -1, c.target, len(c.content), bool(UNNAMED.search(c.target)), c.content)
            self.seen.add(f.target)
            expected = self.expected(f)
            if not expected or self.marker in f.content:
                (self.marked if expected else self.unexpected)[(f.pid, f.fd, f.target)] = f

    def _run(self) -> None:
        master = self.server.proc.pid  # type: ignore[union-attr]
        while not self._stop.is_set():
            self._look(workers_of(master))  # between two workers, for a moment, none: look again
            time.sleep(0.002)

    def scan(self, deep: bool = False) -> None:
        """Look at every worker's descriptors once; `deep` reads the expected data files too."""
        assert self.server.proc is not None
        workers = workers_of(self.server.proc.pid)
        assert workers, "the server has no workers to look at"
        self._look(workers, deep)

    def _look(self, workers: list[int], deep: bool = False) -> None:
        found = [f for pid in workers for f in open_files(pid)]
        data = str(self.server.data_dir.resolve()) + "/"
        with self._lock:
            self.seen.update(f.target for f in found)
        for f in found:
            expected = self.expected(f)
            if expected and not (deep and f.target.startswith(data)):
                continue
            f = read_through(f)
            kept = self.marked if expected else self.unexpected
            if expected and self.marker not in f.content:
                continue
            with self._lock:
                old = kept.get((f.pid, f.fd, f.target))
                if old is None or len(f.content) >= len(old.content):
                    kept[(f.pid, f.fd, f.target)] = f

    def expected(self, f: OpenFile) -> bool:
        """The files a worker may hold: the store's envelopes being written, the database, the
        secret files, the logs, code and libraries; never a temporary or deleted file."""
        srv, target = self.server, f.target
        data, tmp = str(srv.data_dir.resolve()), str(srv.tmp_dir.resolve())
        name = target.rsplit("/", 1)[-1]
        if HEARTBEAT.match(name) and os.path.dirname(target) == tmp and f.size == 0 and not f.tmpfile:
            return True
        if f.tmpfile or target.endswith(" (deleted)") or name.startswith("#"):
            return False
        if target == tmp or target.startswith(tmp + "/"):
            return False
        if target.startswith(tuple(f"{data}/{d}/" for d in STORE_AND_SECRETS)):
            return True
        if os.path.dirname(target) == data and SQLITE.match(name):
            return True
        if target in {str(p.resolve()) for p in srv.data_dir.parent.glob("*.log")}:
            return True  # the servers' own logs, beside the data folder
        if target.startswith("/tmp/"):
            return False  # anything else there: the data folder itself lies under /tmp in the tests
        return target.startswith((*LIBRARIES, CODE, "/etc/"))

    def report(self) -> str:
        """One line per file that should not be (the first 20): empty when all is well."""
        lines = [f"unexpected file: {f.describe(self.marker)}" for f in self.unexpected.values()]
        lines += [f"plaintext in a store file: {f.describe(self.marker)}" for f in self.marked.values()]
        more = [f"... and {len(lines) - 20} more"] if len(lines) > 20 else []
        return "\n".join(lines[:20] + more)


def rx_queue(port: int, peer_port: int) -> int | None:
    """Bytes the kernel holds for the server's end of one loopback connection, not yet read by it."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local, remote, state, queues = cols[1], cols[2], cols[3], cols[4]
            if state != ESTABLISHED:
                continue  # an old connection from the same port, waiting out TIME_WAIT
            if int(local.rsplit(":", 1)[1], 16) == port and int(remote.rsplit(":", 1)[1], 16) == peer_port:
                return int(queues.split(":")[1], 16)
    return None


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def send_slowly(
    srv: Server,
    path: str,
    body: bytes,
    ctype: str,
    watch: OpenFileWatch,
    headers: dict[str, str] | None = None,
    piece: int = 64 * 1024,
    tail: int = 256,
) -> Answer:
    """POST `body` in pieces through a raw socket, scanning the workers after each piece.

    The last `tail` bytes (the closing boundary) are held back until the
    server has read everything before them, and the workers are scanned
    deeply then: the request is mid-body, with every temporary file the
    parser would make still open.
    """
    h = {"Host": "127.0.0.1", "Content-Type": ctype, "Content-Length": str(len(body)), "Connection": "close"}
    if srv.cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in srv.cookies.items())
    h.update(headers or {})
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=120)
    try:
        s.sendall(head.encode())
        cut = max(len(body) - tail, 0)
        try:
            for i in range(0, cut, piece):
                s.sendall(body[i : min(i + piece, cut)])
                watch.scan()
            wait_until_read(srv.port, s.getsockname()[1])
            watch.scan(deep=True)
            s.sendall(body[cut:])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before the body ended (a refusal): read what it said
        resp = http.client.HTTPResponse(s)
        resp.begin()
        answer = Answer(resp.status, resp.headers, resp.read())
    finally:
        s.close()
    for value in answer.headers.get_all("Set-Cookie") or []:
        k, v = value.split(";", 1)[0].split("=", 1)
        srv.cookies[k] = v
    return answer


def wait_until_read(port: int, peer_port: int, within_s: float = 60) -> None:
    """Until the server's end of the connection has nothing left unread (a barrier, not a measure)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if rx_queue(port, peer_port) == 0:
            return
        time.sleep(0.01)
    raise AssertionError(f"the server did not read what was sent within {within_s} s")

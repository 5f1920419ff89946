"""Tips sent in parallel over real HTTP while something else runs, and what a backup file holds."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.conftest import run_tipline
from tests.web.server import Server

AGENT = "TiplineBackupProbe/1.0 (X11; Linux x86_64)"


class Load:
    """THREADS clients sending tips until stopped; `acked` lists each tip's text once the server said 200."""

    def __init__(self, srv: Server, threads: int = 3) -> None:
        self.acked: list[str] = []
        self.failed: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(srv, n)) for n in range(threads)]

    def _run(self, srv: Server, n: int) -> None:
        client = dataclasses.replace(srv, cookies={}, proc=None)  # its own cookie jar
        token = client.csrf_token()
        i = 0
        while not self._stop.is_set():
            text = f"tip {n}-{i} sent while backing up"
            r = client.post_form([("csrf_token", token), ("message", text)], headers={"User-Agent": AGENT})
            if r.status == 200:
                with self._lock:
                    self.acked.append(text)
            else:
                self.failed.append(r.status)
            i += 1
            self._stop.wait(0.2)  # a steady stream, not a flood: the test is about consistency

    def snapshot(self) -> set[str]:
        with self._lock:
            return set(self.acked)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def backups_under_load(
    srv: Server,
    out: Path,
    count: int,
    *extra: str,
    meanwhile: Callable[[threading.Event], None] | None = None,
) -> list[tuple[Path, set[str]]]:
    """`tipline backup` COUNT times while tips arrive (and `meanwhile` runs in a thread of its own until
    told to stop): each file, with the tips acknowledged before it began."""
    made = []
    stop = threading.Event()
    other = threading.Thread(target=meanwhile or (lambda _stop: None), args=(stop,))
    with Load(srv) as load, _joined(other, stop):
        while len(load.snapshot()) < 3:  # the load is really on before the first backup
            threading.Event().wait(0.05)
        for i in range(count):
            before = load.snapshot()
            path = out / f"backup-{i}.tar"
            r = run_tipline("backup", "--data-dir", str(srv.data_dir), "--out", str(path), *extra)
            assert r.stdout.startswith(f"Wrote {path}"), r.stderr
            made.append((path, before))
        while len(load.snapshot()) <= len(before):  # tips kept arriving after the last backup started
            threading.Event().wait(0.05)
    assert load.failed == []
    return made


@contextlib.contextmanager
def _joined(thread: threading.Thread, stop: threading.Event) -> Iterator[None]:
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def check_metadata(path: Path, forbidden: list[bytes]) -> dict[str, bytes]:
    """What docs/backup.md promises of the file itself; returns its members' bytes by name."""
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        data = {m.name: tar.extractfile(m).read() for m in members}
    names = [m.name for m in members]
    assert names == sorted(names) and names[-1] == "manifest.json"
    for m in members:
        assert m.isfile() and m.mtime % 3600 == 0, m.name
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", ""), m.name
    raw = path.read_bytes()
    for word in forbidden:
        assert word not in raw, word
    assert hashlib.sha256(data["manifest.json"]).digest()  # read whole
    return data

"""Memory of a process tree and of Chromium's renderers, from /proc, sampled in a thread.

bench/upload.py samples the source app's gunicorn (master and workers, summed)
(bench/tor.py sums its tor processes and apps with the same tree_memory)
and the largest renderer every 0.2 s during an upload: Pss shares each shared
page among the processes that map it, so a sum of Pss adds up honestly.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path


def smaps(pid: int) -> tuple[int, int]:
    """(Pss, Rss) of PID in kB; (0, 0) if it is gone."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    pss = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
    rss = re.search(r"^Rss:\s+(\d+) kB", rollup, re.M)
    return (int(pss.group(1)) if pss else 0), (int(rss.group(1)) if rss else 0)


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            out[int(d)] = (ppid, cmd)
    return out


def tree_memory(roots: list[int], procs: dict[int, tuple[int, str]]) -> tuple[float, float]:
    """Summed (Pss, Rss) in MiB of ROOTS (a gunicorn master, tor processes) and all their descendants."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo, pss, rss = set(), list(roots), 0, 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo += children.get(pid, [])
        p, r = smaps(pid)
        pss, rss = pss + p, rss + r
    return pss / 1024, rss / 1024


def renderer_memory(procs: dict[int, tuple[int, str]], netns: str) -> float:
    """The largest Pss (MiB) of a Chromium renderer in this run's network namespace."""
    best = 0
    for pid, (_, cmd) in procs.items():
        if "--type=renderer" in cmd:
            try:
                if os.readlink(f"/proc/{pid}/ns/net") != netns:
                    continue
            except OSError:
                continue
            best = max(best, smaps(pid)[0])
    return best / 1024


class Sampler:
    """Samples the server's and the renderer's memory every 0.2 s in a thread, between start and stop."""

    def __init__(self, server_pid: int, netns: str) -> None:
        self.server_pid, self.netns = server_pid, netns
        self.before = (0.0, 0.0)
        self.peak = (0.0, 0.0)
        self.renderer = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self.before = self.peak = tree_memory([self.server_pid], processes())
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            procs = processes()
            pss, rss = tree_memory([self.server_pid], procs)
            self.peak = (max(self.peak[0], pss), max(self.peak[1], rss))
            self.renderer = max(self.renderer, renderer_memory(procs, self.netns))

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

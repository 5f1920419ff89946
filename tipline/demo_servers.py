"""The demo's two servers: `tipline serve` for each app, as child processes of the demo.

Two child processes, not gunicorn in-process: one gunicorn arbiter per process owns that
process's signals and calls sys.exit when it stops, so a second arbiter cannot share it,
and a child is what an operator runs anyway (`tipline serve --app journalist`), with its
own preparation and loopback check. The demo only waits: on Ctrl-C or SIGTERM, or when
either server exits, it stops both and waits for them. They stay in the demo's process
group, so Ctrl-C in the terminal reaches all of them, and on Linux each child is told to
stop if the demo itself is killed (PR_SET_PDEATHSIG), so none is left behind.

The demo is also a child subreaper (PR_SET_CHILD_SUBREAPER): a gunicorn arbiter exits right
after it SIGKILLs a worker that ignored its graceful stop (one still booting, say), so that
worker is orphaned while it dies. It is re-parented to the demo, which reaps it before it
exits, instead of to init, where it could linger after the demo has said it stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  # prctl(2)
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    """prctl(2), a no-op off Linux."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(option, value)


def _stop_with_parent(parent: int) -> None:
    """In the child before exec: SIGTERM when the demo dies (a no-op off Linux)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the demo died before prctl took effect
        os._exit(1)


def start(
    data: Path, port: int, app: str, log: Path, request: StopRequest, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """`tipline serve --app APP` on 127.0.0.1:PORT, writing its log to LOG; returns once it answers.

    ENV adds to the demo's own environment: the settings the demo's flags set (--org)."""
    with open(log, "ab") as out:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tipline.cli",
                "serve",
                "--app",
                app,
                "--data-dir",
                str(data),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            preexec_fn=functools.partial(_stop_with_parent, os.getpid()),  # safe: the demo has no threads
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if request.asked:
            return child  # wait() stops it at once
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return child
        time.sleep(0.1)
    stop([child])
    raise RuntimeError(f"The {app} app did not start. Its log is {log}.")


class StopRequest:
    """Ctrl-C and SIGTERM, from the demo's start on: they set a flag, so the demo always stops its servers."""

    def __init__(self) -> None:
        self.asked = False
        _prctl(PR_SET_CHILD_SUBREAPER, 1)  # before any child starts: see the module's docstring
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._ask)

    def _ask(self, _signum: int, _frame: object) -> None:
        self.asked = True


def wait(children: list[subprocess.Popen], request: StopRequest, log_dir: Path) -> int:
    """Wait for a stop request or a server's exit; then stop both. 0 if asked to stop, else 1."""
    while not request.asked and all(c.poll() is None for c in children):
        time.sleep(0.2)
    stop(children)
    if request.asked:
        return 0
    print(
        f"tipline: A demo server stopped on its own; both are stopped now. Its log is in {log_dir}.",
        file=sys.stderr,
    )
    return 1


def stop(children: list[subprocess.Popen]) -> None:
    """SIGTERM to each server still running (gunicorn's graceful stop), then wait for each."""
    for c in children:
        if c.poll() is None:
            c.terminate()
    for c in children:
        try:
            c.wait(40)  # gunicorn's graceful_timeout is 30 s
        except subprocess.TimeoutExpired:
            c.kill()
            c.wait()
    _reap_orphans()


def _reap_orphans() -> None:
    """Kill and reap whatever the stopped servers left re-parented to the demo."""
    while True:
        for pid in _children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.05)  # one still dying, or re-parented since the scan
        except ChildProcessError:
            return


def _children() -> list[int]:
    """This process's live children, from /proc (empty off Linux)."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(stat.parent.name))
    return found

"""The interactive paths, on a real pseudo-terminal: passphrase prompts and the progress bar."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

from tipline.format.keys import PublicKey
from tipline.format.payload import Metadata
from tipline.format.stream import EnvelopeWriter


def run_on_tty(args: list[str], answers: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run tipline-offline with a terminal for stdin/stdout/stderr, typing an answer at each prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the tool
        os.execv(sys.executable, [sys.executable, "-m", "tipline.offline", *args])
    out = b""
    pending = list(answers)
    answered_at = 0  # answer only a prompt that appeared after the last answer
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal: it is done
            break
        if not chunk:
            break
        out += chunk
        fresh = out[answered_at:].strip()
        if pending and fresh.endswith(b":"):
            os.write(fd, pending.pop(0).encode() + b"\n")
            answered_at = len(out)
    done, status = os.waitpid(pid, os.WNOHANG)
    if not done:  # out of time, still waiting for input: never hang the suite
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def test_keygen_asks_twice_and_decrypt_asks_once_with_a_progress_bar(tmp_path):
    pw = "a passphrase typed at the prompt"
    code, out = run_on_tty(["keygen", "--out", str(tmp_path / "k")], [pw, pw])
    assert code == 0, out
    assert "Passphrase for the new secret key:" in out and "The same passphrase again:" in out
    assert pw not in out  # getpass does not echo it

    pub = PublicKey.from_text((tmp_path / "k" / "journalist.pub").read_text())
    env = tmp_path / "big.envelope"
    with open(env, "wb") as f:
        w = EnvelopeWriter(f, [pub])
        for _ in range(12):
            w.write(os.urandom(1 << 20))
        w.close(Metadata("file", "big.bin", ""))
    code, out = run_on_tty(
        [
            "decrypt",
            str(env),
            "--key",
            str(tmp_path / "k" / "journalist.key"),
            "--out",
            str(tmp_path / "out"),
        ],
        [pw],
    )
    assert code == 0, out
    assert "Passphrase for journalist.key:" in out
    assert "100%" in out and "[#########################]" in out  # the bar, finished
    assert Path(tmp_path / "out" / "big" / "files" / "big.bin").stat().st_size == 12 << 20


def test_keygen_mismatch_writes_nothing(tmp_path):
    code, out = run_on_tty(
        ["keygen", "--out", str(tmp_path / "k")], ["first passphrase here", "second one differs"]
    )
    assert code == 2 and "differ" in out
    assert list((tmp_path / "k").iterdir()) == []


def test_wrong_passphrase_at_the_prompt(tmp_path, keydir):
    env = tmp_path / "m.envelope"
    from tipline.format.stream import seal_bytes

    env.write_bytes(
        seal_bytes(b"x", Metadata("message"), [PublicKey.from_text((keydir / "journalist.pub").read_text())])
    )
    code, out = run_on_tty(
        ["decrypt", str(env), "--key", str(keydir / "journalist.key"), "--out", str(tmp_path / "out")],
        ["not it at all"],
    )
    assert code == 3 and "does not open" in out

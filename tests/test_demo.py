"""The README's first command: `tipline demo` serves both sides of a tip line and prints how to use them.

Real processes throughout: the demo itself, its two gunicorn servers on loopback, the
printed account signing in with a code from the printed secret, the printed command.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest

from tests.conftest import submission_folders
from tests.web.conversations import CODENAME, login, reply_texts
from tests.web.newsroom import token_of
from tests.web.newsroom_page import h1, title
from tests.web.server import Server, free_port

TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def demo_command(folder: Path, *flags: str) -> list[str]:
    """`tipline demo` on `folder`, on a free port, with any other flags."""
    port = str(free_port())
    return [sys.executable, "-m", "tipline.cli", "demo", "--dir", str(folder), "--port", port, *flags]


def start_demo(folder: Path, cwd: Path, *flags: str) -> tuple[subprocess.Popen, str]:
    """`tipline demo` in its own process group; returns once it printed how to stop it."""
    proc = subprocess.Popen(
        demo_command(folder, *flags),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=cwd,
    )
    lines: list[str] = []
    while not any("Stop the demo" in ln for ln in lines):
        line = proc.stdout.readline()
        if not line:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("the demo exited early:\n" + "".join(lines))
        lines.append(line)
    return proc, "".join(lines)


def printed(text: str, label: str) -> str:
    return re.search(rf"^\s*{label}:\s+(\S.*?)\s*$", text, re.M).group(1)


def servers(text: str, folder: Path, work: Path) -> tuple[Server, Server]:
    def at(label: str) -> Server:
        port = int(re.fullmatch(r"http://127\.0\.0\.1:(\d+)/(?:[a-z]+/)?", printed(text, label)).group(1))
        return Server(folder / "data", work, work / "unused.log", port)

    return at("Source side"), at("Journalist side")


def group(pgid: int) -> set[int]:
    """Every process in a process group, from /proc (zombies included: they are not yet gone)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            found.add(int(stat.parent.name))
    return found


def sign_in(j: Server, name: str, passphrase: str, secret: str) -> None:
    token = TOKEN.search(j.get("/login").body.decode()).group(1)
    fields = {"csrf_token": token, "name": name, "passphrase": passphrase, "code": pyotp.TOTP(secret).now()}
    r = j.post_urlencoded("/login", fields)
    assert r.status == 303 and r.header("Location") == "/", r.body


def stopped(proc: subprocess.Popen, folder: Path) -> str:
    """Wait for the demo to exit cleanly; return the rest of its output, checked for tracebacks."""
    rest = proc.stdout.read()
    assert proc.wait(60) == 0, rest
    assert group(proc.pid) == set()  # the demo, both arbiters and every worker are gone
    logs = "".join(p.read_text() for p in (folder / "logs").iterdir())
    assert "Traceback" not in rest and "Traceback" not in logs, rest + logs
    assert "Shutting down: Master" in logs
    return rest


def test_demo_end_to_end_on_both_sides(tmp_path):
    folder = tmp_path / "demo"
    proc, text = start_demo(folder, tmp_path)
    try:
        src, j = servers(text, folder, tmp_path)
        assert src.get("/").status == 200 and j.get("/login").status == 200
        assert "Demo only" in text and printed(text, "Journalist name") == "demo"
        secret = printed(text, "Secret")
        assert f"secret={secret}" in text  # the QR code's URI, printed under it
        fetch = next(ln.strip() for ln in text.splitlines() if "tipline-offline" in ln and "decrypt" in ln)

        r = src.post_form(
            [("csrf_token", src.csrf_token()), ("message", "demo tip ✓")],
            [("files", "doc.txt", b"attached", "text/plain")],
        )
        assert r.status == 200  # the codename page, answered directly
        codename = CODENAME.search(r.body.decode()).group(1)

        sign_in(j, "demo", printed(text, "Passphrase"), secret)
        (cid,) = re.findall(r'href="/conversations/([^"]+)"', j.get("/").body.decode())
        reply = "Thank you. Can you tell us more? ✓"
        fields = {"csrf_token": token_of(j, f"/conversations/{cid}"), "message": reply}
        r = j.post_urlencoded(f"/conversations/{cid}/reply", fields)
        assert r.status == 303, r.body
        assert reply_texts(login(src, codename)) == [reply]

        # Run exactly the printed command, with the venv's tools on PATH.
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        done = subprocess.run(
            fetch, shell=True, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr + done.stdout
        (sub,) = submission_folders(folder / "decrypted").values()
        assert sub.parent.name == f"conversation-{cid}"
        assert (sub / "message.txt").read_text() == "demo tip ✓"
        assert (sub / "files" / "doc.txt").read_bytes() == b"attached"
        assert reply in (sub.parent / "thread.txt").read_text()
        assert "demo-passphrase" in fetch

        children = group(proc.pid) - {proc.pid}
        assert len(children) >= 6  # two arbiters, two workers each
        proc.send_signal(signal.SIGTERM)  # to the demo alone: it stops its servers
        stopped(proc, folder)
        assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
        for side in (src, j):
            try:
                side.get("/")
                raise AssertionError(f"port {side.port} still answers")
            except OSError:
                pass
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_demo_again_on_its_folder_reuses_key_and_account_and_stops_on_ctrl_c(tmp_path):
    folder = tmp_path / "demo"
    proc, first = start_demo(folder, tmp_path)
    proc.send_signal(signal.SIGTERM)
    stopped(proc, folder)
    pub = (folder / "offline-keys" / "journalist.pub").read_text()

    proc, again = start_demo(folder, tmp_path)
    try:
        assert (folder / "offline-keys" / "journalist.pub").read_text() == pub  # the same key, not a new one
        assert "Secret key:" not in again  # no keygen this time
        for label in ("Passphrase", "Secret"):
            assert printed(again, label) == printed(first, label)
        _, j = servers(again, folder, tmp_path)
        sign_in(j, "demo", printed(again, "Passphrase"), printed(again, "Secret"))
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends: to the whole group
        stopped(proc, folder)

        # The account without its sign-in details: the demo says how to start afresh, and serves nothing.
        (folder / "demo-journalist.txt").unlink()
        done = subprocess.run(demo_command(folder), capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"To start afresh, delete the demo folder {folder}" in done.stderr
        assert not (folder / "demo-journalist.txt").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_killing_the_demo_stops_its_servers(tmp_path):
    """Even SIGKILL, which the demo cannot catch: each server is told to stop when its parent dies."""
    folder = tmp_path / "demo"
    proc, text = start_demo(folder, tmp_path)
    src, j = servers(text, folder, tmp_path)
    assert src.get("/").status == 200 and j.get("/login").status == 200
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 60  # a bound on waiting, not a speed check
    while group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = group(proc.pid)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
    assert left == set()
    logs = "".join(p.read_text() for p in (folder / "logs").iterdir())
    assert logs.count("Shutting down: Master") == 2 and "Traceback" not in logs, logs


def test_a_server_that_stops_on_its_own_stops_the_demo(tmp_path):
    folder = tmp_path / "demo"
    proc, _ = start_demo(folder, tmp_path)
    try:
        (arbiter,) = [
            pid
            for pid in group(proc.pid)
            if b"--app\0journalist" in Path(f"/proc/{pid}/cmdline").read_bytes()
            and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(proc.pid)
        ]
        os.kill(arbiter, signal.SIGKILL)
        rest = proc.stdout.read()
        assert proc.wait(60) == 1
        assert "A demo server stopped on its own; both are stopped now." in rest and "Traceback" not in rest
        deadline = time.monotonic() + 60  # the killed arbiter's workers notice and exit
        while group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert group(proc.pid) == set()
    finally:
        if group(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_demo_folder_it_cannot_make_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    r = subprocess.run(
        demo_command(tmp_path / "a-file" / "demo"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("tipline: Cannot set up the demo in ") and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr + r.stdout


def test_ctrl_c_while_the_demo_key_is_made_stops_without_a_traceback(tmp_path):
    folder = tmp_path / "demo"
    proc = subprocess.Popen(
        demo_command(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    # The key folder is made just before the key, whose Argon2id step takes a good part of a second.
    deadline = time.monotonic() + 60
    while not (folder / "offline-keys").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert "Traceback" not in out, out
    assert proc.returncode == 130, out
    assert not (folder / "data").exists()  # stopped before anything was served


def test_demo_with_org_and_lang_shows_the_newsrooms_translated_page(tmp_path):
    folder = tmp_path / "demo"
    proc, text = start_demo(folder, tmp_path, "--org", "El Diario de Ejemplo", "--lang", "es")
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/es/", printed(text, "Source side"))
        src, j = servers(text, folder, tmp_path)
        page = src.get("/es/").body.decode()
        assert '<html lang="es" dir="ltr">' in page
        assert "El Diario de Ejemplo" in title(page) and "El Diario de Ejemplo" in h1(page)
        assert "El Diario de Ejemplo" in h1(src.get("/").body.decode())  # the name, in every language
        assert j.get("/login").status == 200
        proc.send_signal(signal.SIGTERM)
        stopped(proc, folder)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--lang", "fr"), "--lang fr: the source pages are offered in en, "),
        (("--org", "<b>News</b>"), "--org: the name holds '<b', which looks like HTML."),
        (("--org", "N" * 101), "--org: the name is 101 characters long; the most is 100."),
    ],
)
def test_demo_refuses_a_language_it_lacks_or_a_bad_name_before_making_anything(tmp_path, flags, message):
    r = subprocess.run(demo_command(tmp_path / "demo", *flags), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith(f"tipline: {message}") and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "demo").exists()


ORPHAN_MAKER = """
import signal, subprocess, sys
from tipline import demo_servers
request = demo_servers.StopRequest()
# A stand-in for a gunicorn arbiter: it leaves behind a child that ignores SIGTERM,
# as a worker still booting does, and exits when told to stop.
stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
server = subprocess.Popen([sys.executable, "-c", f'''
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", {stubborn!r}])
time.sleep(300)
'''])
import time; time.sleep(1.5)
demo_servers.stop([server])
print("stopped", flush=True)
"""


def test_the_demo_reaps_what_a_stopped_server_left_behind(tmp_path):
    """Regression: a worker SIGKILLed by its exiting arbiter outlived the demo (CI, 2026-12-01)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip() == "stopped"
        assert group(proc.pid) == set()  # the orphan was re-parented to the demo, killed and reaped
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

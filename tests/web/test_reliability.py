"""Nothing acknowledged is lost: crashes mid-load, and a full disk."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time

from tests.conftest import export_and_decrypt, submission_folders
from tests.web.server import Server, fill_disk, make_server


def workers_of(srv: Server) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def decrypt_all(srv: Server, keydir, tmp_path) -> dict[str, str]:
    """Export everything and decrypt it with the real tools: submission id -> message."""
    out = export_and_decrypt(srv.data_dir, keydir, tmp_path / f"work-{time.monotonic_ns()}")
    return {
        sid: (d / "message.txt").read_text()
        for sid, d in submission_folders(out).items()
        if (d / "message.txt").exists()
    }


def test_worker_and_master_killed_mid_load_nothing_acknowledged_is_lost(tmp_path, keydir):
    srv = make_server(tmp_path, keydir / "journalist.pub").start()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            text = f"tip {n}-{i} " + "x" * (i * 997 % 50_000)
            try:
                token = srv.csrf_token()
                files = [("files", f"f{n}-{i}.bin", os.urandom(i * 7919 % 300_000), "x/y")]
                r = srv.post_form([("csrf_token", token), ("message", text)], files)
            except (OSError, http.client.HTTPException):
                continue  # the connection died with the server: not acknowledged
            if r.status == 200:
                with lock:
                    acknowledged.append(text)

    srv.cookies.clear()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    victim = workers_of(srv)[0]
    os.kill(victim, signal.SIGKILL)  # a worker dies mid-request
    time.sleep(1.5)
    os.kill(srv.proc.pid, signal.SIGKILL)  # then the master, as in a power cut ...
    for pid in workers_of(srv):
        os.kill(pid, signal.SIGKILL)  # ... that takes the workers with it
    srv.proc.wait()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(60)
    assert len(acknowledged) > 10, "the load never got going"

    srv.log.close()
    srv.start()  # start-up removes what was never acknowledged
    try:
        store = srv.data_dir / "store"
        assert list((store / "pending").iterdir()) == []
        assert len(list((store / "submissions").iterdir())) == srv.submission_count()
        messages = set(decrypt_all(srv, keydir, tmp_path).values())
        missing = [a for a in acknowledged if a not in messages]
        print(f"crash test: {len(acknowledged)} acknowledged, {len(messages)} stored, {len(missing)} lost")
        assert missing == [], f"{len(missing)} acknowledged tips lost"
    finally:
        srv.stop()


def test_serve_on_a_full_disk_says_so_in_one_line(tmp_path, keydir, small_disk):
    srv = make_server(tmp_path, keydir / "journalist.pub")
    fill_disk(small_disk / "filler")
    for app in ("source", "journalist"):
        r = subprocess.run(
            [sys.executable, "-m", "tipline.cli", "serve", "--app", app, "--data-dir", str(srv.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1, (app, r.stderr)
        assert r.stderr.startswith(f"tipline: Cannot prepare the data folder {srv.data_dir}"), (app, r.stderr)
        assert "free space" in r.stderr and "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_disk_full_gives_503_keeps_what_was_stored_and_recovers(tmp_path, keydir, small_disk):
    srv = make_server(tmp_path, keydir / "journalist.pub").start()
    try:
        token = srv.csrf_token()
        assert srv.post_form([("csrf_token", token), ("message", "before the disk filled")]).status == 200
        before = srv.stored()

        # An attachment larger than the free space: refused with 503, nothing half-written left.
        r = srv.post_form(
            [("csrf_token", token), ("message", "too big")],
            [("files", "big.bin", os.urandom(8 * 1024 * 1024), "x/y")],
        )
        assert r.status == 503 and b"cannot take tips at the moment" in r.body
        assert srv.stored() == before

        # The disk filled by something else: even a small tip is refused, cleanly.
        filler = srv.data_dir / "filler"
        fill_disk(filler)
        r = srv.post_form([("csrf_token", token), ("message", "while full")])
        assert r.status == 503
        assert srv.stored() == before

        filler.unlink()  # space returns: the service takes tips again
        assert srv.post_form([("csrf_token", token), ("message", "after space returned")]).status == 200
        messages = set(decrypt_all(srv, keydir, tmp_path).values())
        assert messages == {"before the disk filled", "after space returned"}
    finally:
        srv.stop()
    # Held and counted until the hour ends, or, as here, until the workers exit (tipline/web/digest.py).
    log = srv.log_path.read_text()
    assert re.search(r"\d+× storage is full: a tip was refused with 503", log) and "Traceback" not in log

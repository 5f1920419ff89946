"""deploy/gunicorn.conf.py: real gunicorn processes serve both apps on loopback, recover on start,
and refuse what a deployment must not do."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from .common import DEPLOY, VENV_BIN, add_key, free_port, get, stop, wait_for_port


def gunicorn(app: str, data_dir: Path, bind: str, log: Path, **env: str) -> subprocess.Popen:
    full_env = dict(os.environ, TIPLINE_APP=app, TIPLINE_DATA_DIR=str(data_dir), TIPLINE_BIND=bind, **env)
    full_env.pop("TIPLINE_CONFIG", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", str(DEPLOY / "gunicorn.conf.py")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=data_dir.parent,
            start_new_session=True,
        )


@pytest.fixture
def data_dir(tmp_path) -> Path:
    d = tmp_path / "data"
    add_key(d)
    return d


def plant(data_dir: Path, where: str, name: str) -> Path:
    folder = data_dir / "store" / where / name
    folder.mkdir(parents=True)
    (folder / "0.envelope").write_bytes(b"never acknowledged")
    return folder


def test_serves_both_apps_and_recovers(data_dir, tmp_path):
    pending = plant(data_dir, "pending", "a" * 32)
    orphan = plant(data_dir, "submissions", "b" * 32)  # on disk without a row
    sport, jport = free_port(), free_port()
    slog, jlog = tmp_path / "source.log", tmp_path / "journalist.log"
    source = gunicorn("source", data_dir, f"127.0.0.1:{sport}", slog)
    journalist = None
    try:
        wait_for_port(sport, source, slog)
        assert not pending.exists() and not orphan.exists(), "recover() did not run before serving"
        status, page = get(sport, "/")
        assert status == 200 and "<form" in page and 'name="csrf_token"' in page

        # The journalist app must not recover: that would delete the source app's uploads in flight.
        in_flight = plant(data_dir, "pending", "c" * 32)
        journalist = gunicorn("journalist", data_dir, f"127.0.0.1:{jport}", jlog)
        wait_for_port(jport, journalist, jlog)
        assert in_flight.exists()
        status, page = get(jport, "/login")
        assert status == 200 and 'name="passphrase"' in page
        assert get(sport, "/login")[0] == 404  # two apps that share no routes
    finally:
        stop(source)
        if journalist:
            stop(journalist)
    log = slog.read_text() + jlog.read_text()
    assert "Removed 2 unacknowledged partial upload(s)" in log
    assert "GET /" not in log and "127.0.0.1 " not in log, "something logged requests"
    # Shared with the other app's user through the group (docs/install.md), never with others;
    # the journalist app's own files stay its owner's alone.
    assert oct((data_dir / "tipline.sqlite3").stat().st_mode & 0o777) == "0o660"
    assert oct((data_dir / "journalist" / "accounts.db").stat().st_mode & 0o777) == "0o600"
    assert oct((data_dir / "journalist" / "csrf.secret").stat().st_mode & 0o777) == "0o600"


def run_refused(app: str, data_dir: Path, bind: str, log: Path) -> str:
    proc = gunicorn(app, data_dir, bind, log)
    try:
        assert proc.wait(30) != 0
    finally:
        stop(proc)
    return log.read_text()


@pytest.mark.parametrize("host", ["0.0.0.0", "[::]", "192.0.2.1", ""])
def test_non_loopback_bind_is_refused(data_dir, tmp_path, host):
    port = free_port()
    out = run_refused("source", data_dir, f"{host}:{port}", tmp_path / "g.log")
    assert f"refusing to bind to '{host}:{port}'" in out and "Set TIPLINE_BIND" in out, out
    assert "Listening" not in out
    with socket.socket() as s:  # and nothing listens there
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_refuses_without_key_or_with_unknown_app(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    out = run_refused("source", data, f"127.0.0.1:{free_port()}", tmp_path / "a.log")
    assert "No recipient key" in out and "tipline keys add" in out, out
    add_key(data)
    out = run_refused("admin", data, f"127.0.0.1:{free_port()}", tmp_path / "b.log")
    assert "TIPLINE_APP is 'admin'" in out, out


def test_a_bad_newsroom_setting_stops_the_source_app_with_one_line(data_dir, tmp_path):
    (data_dir / "tipline.toml").write_text('[newsroom]\nintro = "<b>Tips</b>"\n')
    out = run_refused("source", data_dir, f"127.0.0.1:{free_port()}", tmp_path / "n.log")
    assert "tipline: [newsroom] intro holds '<b', which looks like HTML." in out, out
    assert "Traceback" not in out and "Listening" not in out, out


def test_no_server_or_date_header_and_no_request_data_in_the_log(data_dir, tmp_path):
    """The deploy config answers as `tipline serve` does (tests/web/test_serving.py, test_logs.py)."""
    from tests.web.test_logs import FORGED
    from tests.web.test_serving import fingerprinting_headers, response_head

    for app, paths in (("source", ["/", "/no-such-page"]), ("journalist", ["/login", "/static/style.css"])):
        port, log = free_port(), tmp_path / f"{app}.log"
        proc = gunicorn(app, data_dir, f"127.0.0.1:{port}", log)
        try:
            wait_for_port(port, proc, log)
            for path in paths:
                head = response_head(port, path)
                assert head[0].startswith("HTTP/1.1 ") and fingerprinting_headers(head) == [], head
            response_head(port, f"/x%0a{FORGED}")
            response_head(port, f"/x {FORGED}")  # a malformed request line, refused by gunicorn
        finally:
            stop(proc)
        text = log.read_text()
        assert "Booting worker" in text and FORGED not in text and "Traceback" not in text, text

"""What the server log holds: nothing a request carried, no client address, no traceback.

Each test starts its own gunicorn (`tipline serve`), makes its own requests,
and reads that server's own log, so no result depends on what other tests did.
"""

from __future__ import annotations

import http.client
import re
import socket
import time

import pytest

from tests.web.server import Server, make_server, multipart

ONION = "c" * 56 + ".onion"
FORGED = "FORGED-LOG-LINE-7f3a"
# A client address of its own: the server listens on 127.0.0.1, the tests connect from this one,
# so any trace of it in the log is the client's address and not the server's own bind line.
CLIENT = "127.0.0.77"


def raw_request(srv: Server, head: bytes) -> bytes:
    """Send a request head as given (no client library tidies it), and read the whole answer."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30, source_address=(CLIENT, 0)) as s:
        s.sendall(head)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def forged_requests(app: str) -> list[bytes]:
    """Requests that try to start a line of the log with text of their choosing."""
    line = f"[2026-01-01 00:00:00 +0000] [1] [CRITICAL] {FORGED}-{app}"
    enc = line.replace(" ", "%20").replace("[", "%5B").replace("]", "%5D")
    paths = [
        f"/%0a{enc}",  # what the audit sent
        f"/%0d%0a{enc}",
        f"/thanks?x=%0a{enc}",
        f"/static/%0a{enc}",
        f"/login%0a{enc}",
    ]
    heads = [f"GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode() for p in paths]
    heads += [
        # Malformed requests that gunicorn itself refuses, and used to log with the client's address.
        f"GET /x {line} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        f"GET /?q=\x01{enc} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        f"GET / HTTP/1.1\r\nHost: x\r\n{FORGED}\x01: {line}\r\n\r\n".encode(),
        f"POST /submit HTTP/1.1\r\nHost: x\r\nContent-Length: {FORGED}\r\n\r\n".encode(),
    ]
    return heads


def log_lines(srv: Server) -> list[str]:
    srv.stop()  # every worker has written all it will
    return srv.log_path.read_text(errors="replace").splitlines()


def assert_clean(lines: list[str], port: int) -> None:
    for line in lines:
        assert FORGED not in line, line
        assert CLIENT not in line, line
        assert "Traceback" not in line and 'File "' not in line, line
        if "127.0.0.1" in line:
            assert f"Listening at: http://127.0.0.1:{port}" in line, line  # the server's own address


@pytest.mark.parametrize("onion", ["", ONION], ids=["no-onion", "onion"])
@pytest.mark.parametrize("app", ["source", "journalist"])
def test_forged_log_lines_never_reach_the_log(tmp_path, keydir, app, onion):
    srv = make_server(tmp_path, keydir / "journalist.pub")
    srv.start("--app", app, *(["--onion-address", onion] if onion else []))
    try:
        for head in forged_requests(app):
            answer = raw_request(srv, head)
            status = int(answer.split(b" ", 2)[1])
            assert status < 500, answer[:300]  # served, refused or not found: never an error
            assert b"Traceback" not in answer
        if onion:  # the header is still sent, with the newline percent-encoded
            head = raw_request(srv, forged_requests(app)[0]).split(b"\r\n\r\n")[0]
            assert f"\r\nOnion-Location: http://{ONION}/%0A%5B2026".encode() in head, head
    finally:
        lines = log_lines(srv)
    assert any("Booting worker" in line for line in lines)  # the log is the server's, and was read
    assert_clean(lines, srv.port)


def request_from_client(srv: Server, method: str, path: str, body: bytes = b"", headers=None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60, source_address=(CLIENT, 0))
    h = dict(headers or {})
    if srv.cookies:
        h.setdefault("Cookie", "; ".join(f"{k}={v}" for k, v in srv.cookies.items()))
    h.setdefault("User-Agent", "UA-MARKER-123")
    conn.request(method, path, body=body or None, headers=h)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status


def test_no_client_address_or_user_agent_in_log_or_database_on_any_answer(tmp_path, keydir):
    """Successes, refusals and a server error, each from a client address of its own."""
    srv = make_server(tmp_path, keydir / "journalist.pub").start("--max-upload-mb", "1")
    try:
        token = srv.csrf_token()
        form, ctype = multipart([("csrf_token", token), ("message", "log check")])
        statuses = {
            request_from_client(srv, "GET", "/"),
            request_from_client(srv, "POST", "/submit", form, {"Content-Type": ctype}),
            request_from_client(srv, "GET", "/no-such-page"),
            request_from_client(srv, "DELETE", "/"),
            request_from_client(srv, "POST", "/submit", b"x", {"Content-Type": "multipart/form-data"}),
            request_from_client(srv, "POST", "/submit", form, {"Content-Type": ctype, "Cookie": ""}),
        }
        big, big_type = multipart([("csrf_token", token)], [("files", "b.bin", b"\0" * (2 << 20), "x/y")])
        statuses.add(request_from_client(srv, "POST", "/submit", big, {"Content-Type": big_type}))
        # A server error: the folder each upload starts in has gone.
        pending = srv.data_dir / "store" / "pending"
        pending.rename(pending.with_name("moved"))
        try:
            statuses.add(request_from_client(srv, "POST", "/submit", form, {"Content-Type": ctype}))
        finally:
            pending.with_name("moved").rename(pending)
    finally:
        lines = log_lines(srv)
    assert statuses == {200, 404, 405, 400, 403, 413, 500}  # a tip is answered 200: the codename page
    assert any("unexpected FileNotFoundError" in line for line in lines)  # the 500 was logged, plainly
    assert_clean(lines, srv.port)
    log = "\n".join(lines)
    assert "UA-MARKER" not in log and "GET /" not in log and "POST /submit" not in log
    db = b"".join(p.read_bytes() for p in srv.data_dir.glob("tipline.sqlite3*"))
    assert CLIENT.encode() not in db and b"UA-MARKER" not in db


def test_lines_a_request_causes_are_held_and_written_counted_at_the_period_end(tmp_path, keydir):
    """A log line's own time would date a source's request: such lines wait for the period's end.

    In production the period is an hour; here 5 s, so the test sees the digest arrive.
    """
    srv = make_server(tmp_path, keydir / "journalist.pub")
    (srv.data_dir / "tipline.toml").write_text("log_hold_s = 5\n")
    # One worker, which has loaded the app once it has answered: a second one booting
    # late would make store/pending again after the test moved it away.
    srv.start("--workers", "1")
    try:
        token = srv.csrf_token()
        form, ctype = multipart([("csrf_token", token), ("message", "held")])
        pending = srv.data_dir / "store" / "pending"
        pending.rename(pending.with_name("moved"))  # three server errors, each logged by the app
        try:
            headers = {"Content-Type": ctype}
            errors = [request_from_client(srv, "POST", "/submit", form, headers) for _ in range(3)]
        finally:
            pending.with_name("moved").rename(pending)
        for _ in range(2):  # two malformed requests, each logged by gunicorn
            raw_request(srv, b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01: y\r\n\r\n")
        digest = re.compile(r"(\d+)× (.+) \(in the 5 s up to \d\d:\d\d:\d\d UTC\)$")

        def counted(message: str) -> int:
            return sum(
                int(m.group(1))
                for line in srv.log_path.read_text(errors="replace").splitlines()
                if (m := digest.search(line)) and m.group(2).startswith(message)
            )

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            counted("unexpected FileNotFoundError") < 3 or counted("A malformed request was refused.") < 2
        ):
            time.sleep(0.5)
    finally:
        lines = log_lines(srv)
    assert errors == [500, 500, 500]
    assert counted("unexpected FileNotFoundError") == 3
    assert counted("A malformed request was refused.") == 2
    for line in lines:  # never a line of its own, written at the moment of the request
        if "unexpected FileNotFoundError" in line or "A malformed request was refused" in line:
            assert digest.search(line), line
    assert_clean(lines, srv.port)

"""Sending through a SOCKS5 listener on a unix socket, as tor's for the notify unit (route = "tor").

The SOCKS5 server here is a small real one in a thread (tests/notify/servers.py) that
forwards to the aiosmtpd or HTTPS server on loopback; a test through a real tor is added
with the deployment. It records what the client asked for: the name, never an address.
"""

from __future__ import annotations

import socket
import threading

import pytest

from tests.notify.conftest import smtp_toml
from tests.notify.servers import HttpsReceiver, SmtpServer, Socks5Server
from tipline.notify.route import RouteError, socks5_connect


def through(toml: str, sock) -> str:
    return toml.replace('route = "direct"', f'route = "tor"\ntor_socks = "{sock}"')


@pytest.fixture
def socks(short_dir):
    s = Socks5Server(short_dir / "socks.sock").start()
    yield s
    s.stop()


def test_email_through_socks_sends_the_name_to_the_proxy(install, ca, socks):
    srv = SmtpServer(ca.server_context(install.data_dir, "localhost"), implicit=False).start()
    try:
        install.configure(through(smtp_toml(srv.port), socks.path))
        install.tip("2026-11-30T15:00Z")
        assert install.run() == (
            0,
            "Sent the notification for 2026-12-01 by email to desk@example.org, "
            f"through tor ({socks.path}).\n",
            "",
        )
        assert socks.requests == [(3, "localhost", srv.port)]  # ATYP 3: the name; DNS is the proxy's
        [got] = srv.messages
        assert got.tls and got.login == "tipline"
    finally:
        srv.stop()


def test_webhook_through_socks(install, ca, socks):
    r = HttpsReceiver(ca.server_context(install.data_dir, "localhost")).start()
    try:
        install.configure(
            f'[notify]\nroute = "tor"\ntor_socks = "{socks.path}"\nsend_when_quiet = true\n'
            f'[notify.webhook]\nurl = "https://localhost:{r.port}/"\nca_file = "ca.pem"\n'
        )
        assert install.run()[0] == 0
        assert socks.requests == [(3, "localhost", r.port)]
        assert b"no new activity" in r.requests[0].body
    finally:
        r.stop()


def test_a_proxy_that_refuses_leaves_it_pending(install, short_dir):
    refusing = Socks5Server(short_dir / "refuse.sock", reply=5).start()
    try:
        install.configure(through(smtp_toml(25), refusing.path))
        install.tip("2026-11-30T15:00Z")
        code, _, err = install.run()
        assert code == 1
        assert "(RouteError: the SOCKS proxy could not connect: connection refused)" in err
        assert install.state().channels["email:desk@example.org"].pending is not None
    finally:
        refusing.stop()


def test_no_proxy_listening_is_one_line(install, short_dir):
    install.configure(through(smtp_toml(25), short_dir / "absent.sock"))
    install.tip("2026-11-30T15:00Z")
    code, _, err = install.run()
    assert (code, err.count("\n")) == (1, 1)
    assert "email to desk@example.org failed (FileNotFoundError: could not connect)" in err


def canned(path, reply: bytes) -> threading.Thread:
    """A listener that answers the first connection with exactly `reply`, then closes it."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)

    def answer():
        c, _ = srv.accept()
        c.recv(3)  # the greeting
        c.sendall(reply[:2])
        if len(reply) > 2:
            c.recv(512)  # the request
            c.sendall(reply[2:])
        c.close()
        srv.close()

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (b"\x04\x5a", "does not offer SOCKS5 without authentication"),
        (b"\x05\x02", "does not offer SOCKS5 without authentication"),
        (b"\x05\x00\x04\x00\x00\x01", "reply is not SOCKS5"),
        (b"\x05\x00\x05\x00\x01\x01", "reply is not SOCKS5"),
        (b"\x05\x00\x05\x04\x00\x01", "could not connect: host unreachable"),
        (b"\x05\x00\x05\x00\x00\x07", "unknown address type"),
        (b"\x05\x00\x05\x00\x00\x01\x7f\x00", "closed the connection in the middle of its reply"),
    ],
)
def test_replies_are_parsed_strictly(short_dir, reply, says):
    path = short_dir / "canned.sock"
    t = canned(path, reply)
    with pytest.raises(RouteError, match=says):
        socks5_connect(str(path), "mail.example.org", 587, 10)
    t.join(10)

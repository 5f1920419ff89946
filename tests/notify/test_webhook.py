"""The webhook: a real HTTPS receiver on loopback; request line, headers and body checked exactly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.notify.conftest import NOW
from tests.notify.servers import HttpsReceiver


def hook_toml(port: int, notify: str = "", body: str = "") -> str:
    return f"""
[notify]
route = "direct"
{notify}
[notify.webhook]
url = "https://localhost:{port}/newsroom?x=1"
{body}
ca_file = "ca.pem"
"""


def padded(body: bytes) -> bytes:
    return body + b" " * (1024 - len(body))


@pytest.fixture
def receiver(install, ca):
    r = HttpsReceiver(ca.server_context(install.data_dir, "localhost")).start()
    yield r
    r.stop()


def test_what_arrives_byte_for_byte(install, receiver):
    install.configure(hook_toml(receiver.port))
    install.tip("2026-11-30T15:00Z")
    assert install.run() == (
        0,
        "Sent the notification for 2026-12-01 by webhook to localhost, directly (not through tor).\n",
        "",
    )
    [got] = receiver.requests
    assert got.line == b"POST /newsroom?x=1 HTTP/1.1\r\n"
    assert got.headers == [
        ("Host", f"localhost:{receiver.port}"),
        ("Accept-Encoding", "identity"),
        ("Content-Length", "1024"),
        ("Content-Type", "application/json"),
        ("User-Agent", "Tipline"),
    ]
    assert got.body == padded(
        b'{"message": "There has been new activity on the tip line since the last notification."}'
    )


def test_a_template_of_its_own_and_counts_json_escaped(install, receiver):
    body = 'body = \'{"msgtype": "m.text", "body": "$text"}\''
    install.configure(hook_toml(receiver.port, "counts = true\nsend_when_quiet = true", body))
    assert install.run()[0] == 0
    install.tip("2026-12-01T12:00Z")
    assert install.run(NOW + timedelta(days=1))[0] == 0
    assert [r.body for r in receiver.requests] == [
        padded(
            b'{"msgtype": "m.text", "body": "There has been no new activity on the tip line since the last '
            b"notification.\\nNew submissions: 0.\\nNew conversations: 0.\\n"
            b'Follow-ups in earlier conversations: 0."}'
        ),
        padded(
            b'{"msgtype": "m.text", "body": "There has been new activity on the tip line since the last '
            b"notification.\\nNew submissions: 1.\\nNew conversations: 0.\\n"
            b'Follow-ups in earlier conversations: 0."}'
        ),
    ]


def test_a_refusing_receiver_leaves_it_pending_then_it_goes_once(install, receiver):
    install.configure(hook_toml(receiver.port))
    install.tip("2026-11-30T15:00Z")
    receiver.status = 503
    code, _, err = install.run()
    assert code == 1
    assert err == (
        "tipline notify: webhook to localhost failed (WebhookError: the receiver answered HTTP 503). "
        "The notification stays pending; the next run sends it again.\n"
    )
    receiver.status = 204
    assert install.run(NOW + timedelta(hours=1))[0] == 0
    assert install.run(NOW + timedelta(hours=2))[0] == 0
    assert len(receiver.requests) == 2  # the refused one, then the accepted one; none after
    assert receiver.requests[0].body == receiver.requests[1].body


def test_an_untrusted_certificate_is_refused(install, other_ca):
    r = HttpsReceiver(other_ca.server_context(install.data_dir, "localhost")).start()
    try:
        install.configure(hook_toml(r.port))
        install.tip("2026-11-30T15:00Z")
        code, _, err = install.run()
        assert code == 1 and "SSLCertVerificationError" in err
        assert r.requests == []
        assert install.state().channels["webhook"].pending.period == "2026-12-01"
    finally:
        r.stop()


def test_one_channel_failing_does_not_stop_or_repeat_the_others(install, receiver, ca):
    """Email and webhook together; the webhook refuses. The email goes once, the webhook stays
    pending alone, and the next run sends only the webhook: one bad channel never stops another."""
    from tests.notify.conftest import smtp_toml
    from tests.notify.servers import SmtpServer

    srv = SmtpServer(ca.server_context(install.data_dir, "localhost"), implicit=False).start()
    try:
        hook = hook_toml(receiver.port).replace('[notify]\nroute = "direct"\n', "")
        install.configure(smtp_toml(srv.port) + hook)
        install.tip("2026-11-30T15:00Z")
        receiver.status = 503
        code, _, err = install.run()
        assert code == 1 and err.startswith("tipline notify: webhook to localhost failed (WebhookError")
        assert err.count("\n") == 1  # the email's success is not an error line
        assert len(srv.messages) == 1 and len(receiver.requests) == 1
        state = install.state()
        assert state.channel("email:desk@example.org").pending is None
        assert state.channel("webhook").pending is not None
        receiver.status = 204
        code, out, err = install.run(NOW + timedelta(hours=1))
        assert (code, err) == (0, "") and out.startswith("Sent the notification for 2026-12-01 by webhook")
        assert out.count("\n") == 1 and "email" not in out
        assert len(srv.messages) == 1  # the email was not sent again
        assert len(receiver.requests) == 2 and receiver.requests[0].body == receiver.requests[1].body
        assert install.state().channel("webhook").pending is None
    finally:
        srv.stop()

"""Email notifications to a real SMTP server on loopback (aiosmtpd), with STARTTLS or implicit TLS.

What arrives is checked byte for byte; the clock is the explicit `now` of run().
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from sqlalchemy import Engine, event, make_url

from tests.notify.conftest import NOW, smtp_toml
from tests.notify.servers import SmtpServer
from tests.web.server import free_port
from tipline.notify.addresses import NotifyAddresses
from tipline.store.accounts import open_accounts
from tipline.store.activity import ActivityLog
from tipline.store.db import make_sessions

ACTIVITY = b"There has been new activity on the tip line since the last notification.\n"
QUIET = b"There has been no new activity on the tip line since the last notification.\n"
HEAD = re.compile(
    rb"From: tipline@example\.org\r\n"
    rb"To: (?P<to>[a-z]+@example\.org)\r\n"
    rb"Subject: Tipline: activity\r\n"
    rb"Date: (?:Tue, 01|Wed, 02|Thu, 03) Dec 2026 (?P<hour>[0-9]{2}):00:00 \+0000\r\n"
    rb"Message-ID: <[0-9a-f]{32}@example\.org>\r\n"
    rb"Content-Transfer-Encoding: base64\r\n"
    rb"MIME-Version: 1\.0\r\n"
    rb'Content-Type: text/plain; charset="utf-8"\r\n'
    rb"\r\n"
)


def body_of(data: bytes) -> bytes:
    """The message's body, decoded; the headers must be exactly HEAD's, and nothing else."""
    m = HEAD.match(data)
    assert m, data[:600]
    return base64.b64decode(data[m.end() :])


def padded(text: bytes) -> bytes:
    return text + b"\n" * (1024 - len(text))


@pytest.fixture
def starttls(install, ca):
    srv = SmtpServer(ca.server_context(install.data_dir, "localhost"), implicit=False).start()
    yield srv
    srv.stop()


def test_starttls_delivers_only_that_there_was_activity(install, starttls):
    install.configure(smtp_toml(starttls.port))
    install.tip("2026-11-30T15:00Z")
    assert install.run() == (
        0,
        "Sent the notification for 2026-12-01 by email to desk@example.org, directly (not through tor).\n",
        "",
    )
    [got] = starttls.messages
    assert (got.mail_from, got.rcpt_tos, got.tls, got.login) == (
        "tipline@example.org",
        ["desk@example.org"],
        True,
        "tipline",
    )
    assert body_of(got.data) == padded(ACTIVITY)
    # Nothing of the tip is there: no id, hour, size or count.
    for leak in (b"2026-11-30", b"15:00", b"4096", b"1 new"):
        assert leak not in got.data and leak not in body_of(got.data)


def test_at_most_once_per_period_and_quiet_periods_stay_silent(install, starttls):
    install.configure(smtp_toml(starttls.port))
    install.tip("2026-12-01T06:00Z")
    assert install.run(NOW - timedelta(hours=2))[0] == 0  # 07:30: the 30 November period, quiet
    assert starttls.messages == []
    assert install.run()[0] == 0  # 09:30: due
    assert install.run(NOW + timedelta(hours=1))[0] == 0
    install.tip("2026-12-01T09:00Z")  # after the due hour: the next period's
    assert install.run(NOW + timedelta(hours=12))[0] == 0
    assert len(starttls.messages) == 1
    assert install.run(NOW + timedelta(days=1))[0] == 0  # 2 December's: the 09:00 tip
    assert install.run(NOW + timedelta(days=2))[0] == 0  # 3 December's: nothing new, so nothing sent
    assert [body_of(m.data) for m in starttls.messages] == [padded(ACTIVITY)] * 2
    assert install.state().channels["email:desk@example.org"].settled == "2026-12-03"


def test_quiet_message_has_the_same_subject_and_size(install, starttls):
    install.configure(smtp_toml(starttls.port, notify="send_when_quiet = true"))
    assert install.run()[0] == 0
    install.tip("2026-12-01T10:00Z")
    assert install.run(NOW + timedelta(days=1))[0] == 0
    quiet, active = starttls.messages
    assert body_of(quiet.data) == padded(QUIET) and body_of(active.data) != body_of(quiet.data)
    assert len(quiet.data) == len(active.data)
    assert (HEAD.match(quiet.data)["hour"], HEAD.match(active.data)["hour"]) == (b"09", b"09")


def test_the_text_depends_on_the_period_not_on_when_a_tip_came(install, starttls, tmp_path, ca):
    """Counts are opt-in; with them, the same counts whatever the hours within the period."""
    install.configure(smtp_toml(starttls.port, notify="counts = true"))
    old = install.conversation("2026-11-01T10:00Z")
    install.conversation("2026-11-30T08:00Z")
    install.conversation("2026-12-01T07:00Z")
    install.tip("2026-11-30T20:00Z", old)  # a follow-up
    install.tip("2026-11-30T12:00Z")  # a tip without a codename
    install.tip("2026-12-01T08:00Z")  # the next period's
    assert install.run()[0] == 0
    [got] = starttls.messages
    assert body_of(got.data) == padded(
        ACTIVITY + b"New submissions: 4.\nNew conversations: 2.\nFollow-ups in earlier conversations: 1.\n"
    )


def test_down_then_back_delivered_exactly_once(install, ca):
    port = free_port()
    install.configure(smtp_toml(port))
    install.tip("2026-11-30T15:00Z")
    code, out, err = install.run()
    assert (code, out) == (1, "")
    assert err == (
        "tipline notify: email to desk@example.org failed (ConnectionRefusedError: could not connect). "
        "The notification stays pending; the next run sends it again.\n"
    )
    pending = install.state().channels["email:desk@example.org"]
    assert pending.settled == "" and pending.pending.period == "2026-12-01"
    assert install.run(NOW + timedelta(hours=1))[0] == 1
    srv = SmtpServer(ca.server_context(install.data_dir, "localhost"), implicit=False, port=port).start()
    try:
        assert install.run(NOW + timedelta(hours=2))[0] == 0
        assert install.run(NOW + timedelta(hours=3))[0] == 0
        assert install.run(NOW + timedelta(hours=20))[0] == 0
        assert [body_of(m.data) for m in srv.messages] == [padded(ACTIVITY)]
        assert install.state().channels["email:desk@example.org"].pending is None
    finally:
        srv.stop()


@pytest.mark.parametrize("which", ["wrong name", "untrusted authority"])
def test_a_wrong_certificate_is_refused_and_left_pending(install, ca, other_ca, which):
    tls = (
        ca.server_context(install.data_dir, "mail.example.net")
        if which == "wrong name"
        else other_ca.server_context(install.data_dir, "localhost")
    )
    srv = SmtpServer(tls, implicit=False).start()
    try:
        install.configure(smtp_toml(srv.port))
        install.tip("2026-11-30T15:00Z")
        code, _, err = install.run()
        assert code == 1 and "(SSLCertVerificationError: its certificate was not accepted" in err
        assert "There has been" not in err
        assert srv.messages == []
        assert install.state().channels["email:desk@example.org"].pending.period == "2026-12-01"
    finally:
        srv.stop()


def test_implicit_tls(install, ca):
    srv = SmtpServer(ca.server_context(install.data_dir, "localhost"), implicit=True).start()
    try:
        install.configure(smtp_toml(srv.port, security="tls", creds=False))
        install.tip("2026-11-30T15:00Z")
        assert install.run()[0] == 0
        [got] = srv.messages
        assert got.tls and body_of(got.data) == padded(ACTIVITY)
    finally:
        srv.stop()


def test_a_credentials_file_others_may_read_is_refused(install, starttls):
    install.configure(smtp_toml(starttls.port))
    (install.data_dir / "smtp-credentials").chmod(0o640)
    install.tip("2026-11-30T15:00Z")
    code, _, err = install.run()
    assert code == 1 and starttls.messages == []
    creds = install.data_dir / "smtp-credentials"
    assert err.startswith(
        "tipline notify: email to desk@example.org failed (CredentialsError: "
        f"The SMTP credentials file {creds} may be read by others (mode 0640); "
        f"make it the owner's only: chmod 600 {creds})."
    )


def test_each_journalist_gets_their_own_message(install, starttls):
    install.configure(smtp_toml(starttls.port))
    settings = install.settings
    accounts = open_accounts(settings.accounts_db_url, settings.totp_key_path)
    accounts.add("ana")
    accounts.add("ben")
    NotifyAddresses(accounts.sessions).set("ana", "ana@example.org")
    # The desk's address as ben's own too: one message to it, not two.
    NotifyAddresses(make_sessions(accounts.sessions.kw["bind"])).set("ben", "desk@example.org")
    install.tip("2026-11-30T15:00Z")
    assert install.run()[0] == 0
    got = sorted(starttls.messages, key=lambda m: m.rcpt_tos)
    assert [m.rcpt_tos for m in got] == [["ana@example.org"], ["desk@example.org"]]
    assert [HEAD.match(m.data)["to"] for m in got] == [b"ana@example.org", b"desk@example.org"]
    accounts.remove("ana")  # the address goes with the account
    assert NotifyAddresses(accounts.sessions).all() == {"ben": "desk@example.org"}


def test_a_server_without_starttls_gets_nothing_in_the_clear(install):
    srv = SmtpServer(None, implicit=False).start()
    try:
        install.configure(smtp_toml(srv.port, creds=False))
        install.tip("2026-11-30T15:00Z")
        code, _, err = install.run()
        assert code == 1
        assert (
            "(SMTPNotSupportedError: the server does not offer STARTTLS, and nothing is sent in the clear)"
            in err
        )
        assert srv.messages == []
    finally:
        srv.stop()


def test_one_run_of_several_windows_opens_the_accounts_database_once(install, starttls):
    """Three recipients settled to three periods: three windows, each with its own text and the
    failed logins since its start, in a run that makes one accounts engine (SQLAlchemy's own event)."""
    install.configure(smtp_toml(starttls.port))
    settings = install.settings
    accounts = open_accounts(settings.accounts_db_url, settings.totp_key_path)
    for name in ("ana", "ben"):
        accounts.add(name)
        NotifyAddresses(accounts.sessions).set(name, f"{name}@example.org")
    ActivityLog(accounts.sessions).record("ana", "login_failed")  # this hour: in every window
    accounts.sessions.kw["bind"].dispose()
    state = install.state()
    state.channel("email:desk@example.org").settled = "2026-11-28"
    state.channel("email:ana@example.org").settled = "2026-11-29"  # ben's: never, so since 30 November
    state.save()
    install.tip("2026-11-28T12:00Z")  # in the desk's window only
    wanted = make_url(settings.accounts_db_url).database
    engines: list[Engine] = []

    def connected(conn) -> None:
        if conn.engine.url.database == wanted and conn.engine not in engines:
            engines.append(conn.engine)

    event.listen(Engine, "engine_connect", connected)
    try:
        assert install.run()[0] == 0
    finally:
        event.remove(Engine, "engine_connect", connected)
    assert len(engines) == 1
    bodies = {m.rcpt_tos[0]: body_of(m.data) for m in starttls.messages}
    failed = b"Failed logins since the last notification: ana: 1.\n"
    assert bodies == {
        "desk@example.org": padded(ACTIVITY + failed),
        "ana@example.org": padded(QUIET + failed),
        "ben@example.org": padded(QUIET + failed),
    }
    assert {c.settled for c in install.state().channels.values()} == {"2026-12-01"}

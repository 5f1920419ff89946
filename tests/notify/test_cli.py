"""`tipline notify` as an admin runs it: the real command in a subprocess."""

from __future__ import annotations

import pytest

from tests.conftest import run_tipline
from tests.notify.conftest import smtp_toml
from tests.notify.servers import SmtpServer
from tests.web.logins import enrol


def notify(install, *args: str):
    return run_tipline("notify", *args, "--data-dir", str(install.data_dir), check=False)


def test_dry_run_prints_what_would_go_and_sends_nothing(install, ca):
    srv = SmtpServer(ca.server_context(install.data_dir, "localhost"), implicit=False).start()
    try:
        install.configure(smtp_toml(srv.port, notify="send_when_quiet = true"))
        out = notify(install, "--dry-run")
        assert (out.returncode, out.stderr) == (0, "")
        lines = out.stdout.splitlines()
        assert lines[0].startswith("email to desk@example.org, directly (not through tor), for 20")
        assert lines[1:] == [
            "  Subject: Tipline: activity",
            "  There has been no new activity on the tip line since the last notification.",
        ]
        assert srv.messages == []
        assert not (install.data_dir / "journalist" / "notify-state.json").exists()
    finally:
        srv.stop()


def test_test_sends_on_every_channel_now(install, ca):
    srv = SmtpServer(ca.server_context(install.data_dir, "localhost"), implicit=False).start()
    try:
        install.configure(smtp_toml(srv.port))
        out = notify(install, "test")
        assert (out.returncode, out.stderr) == (0, "")
        assert (
            out.stdout
            == "Sent a test notification by email to desk@example.org, directly (not through tor).\n"
        )
        [got] = srv.messages
        assert b"Subject: Tipline: activity\r\n" in got.data
    finally:
        srv.stop()


def test_a_failed_channel_is_one_line_and_a_non_zero_exit(install):
    install.configure(smtp_toml(1, notify="send_when_quiet = true"))
    for args in ((), ("test",)):
        out = notify(install, *args)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert out.stderr.startswith(
            "tipline notify: email to desk@example.org failed (ConnectionRefusedError"
        )
        assert out.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        (
            '[notify]\nperiod = "hourly"\n',
            "tipline: [notify] period should be one of 'daily', 'weekly', not 'hourly'.",
        ),
        ("[notify]\nhour = 24\n", "tipline: [notify] hour should be a whole number from 0 to 23, not 24."),
        (
            '[notify]\nroute = "clear"\n',
            "tipline: [notify] route should be one of 'tor', 'direct', not 'clear'.",
        ),
        (
            '[notify.smtp]\nhost = "h"\nsecurity = "plain"\nfrom = "a@example.org"\n',
            "tipline: [notify.smtp] security should be one of 'starttls', 'tls', not 'plain'.",
        ),
        (
            '[notify.webhook]\nurl = "http://ntfy.example.org/x"\n',
            "tipline: [notify.webhook] url 'http://ntfy.example.org/x' should be an https:// address "
            "(plain http:// only to this machine).",
        ),
        (
            '[notify.webhook]\nurl = "https://n.example.org/"\nbody = \'{"m": $text}\'\n',
            "tipline: [notify.webhook] body is not JSON once $text is filled in; "
            'write it like {"message": "$text"}.',
        ),
        ("[notify]\nsmtp = 3\n", "tipline: [notify] smtp should be a table ([notify.smtp])."),
        ("[notify]\ncolour = 3\n", "tipline: [notify]: unknown setting 'colour'."),
        ("notify = 3\n", "should be a table ([notify])."),
    ],
)
def test_a_wrong_setting_is_one_line_exit_2(install, toml, says):
    install.configure(toml)
    out = notify(install, "--dry-run")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.rstrip("\n").endswith(says) and out.stderr.count("\n") == 1


def test_address_set_and_clear(install, tmp_path):
    enrol(install.data_dir, "ana", tmp_path)
    out = notify(install, "address", "ana", "ana@example.org")
    assert (out.returncode, out.stdout) == (0, "Notifications for ana now also go to ana@example.org.\n")
    install.configure(smtp_toml(1))
    assert "email to ana@example.org: nothing to send for" in notify(install, "--dry-run").stdout
    bad = notify(install, "address", "ana", "ana@example")
    assert (bad.returncode, bad.stderr) == (
        2,
        "tipline: The address 'ana@example' is not an email address like name@example.org.\n",
    )
    nobody = notify(install, "address", "nobody", "n@example.org")
    assert (nobody.returncode, nobody.stderr) == (
        1,
        "tipline: No journalist named nobody. See tipline journalist list.\n",
    )
    out = notify(install, "address", "ana", "--clear")
    assert out.stdout == "Cleared ana's notification address; they get no notifications of their own now.\n"
    assert "ana@example.org" not in notify(install, "--dry-run").stdout


def test_not_set_up_says_so_and_exits_0(install):
    out = notify(install)
    assert (out.returncode, out.stdout) == (
        0,
        "Notifications are not set up: add [notify.smtp] or [notify.webhook] to tipline.toml.\n",
    )


def test_doctor_reads_the_notify_settings_and_warns_about_the_direct_route(install):
    """`tipline doctor` loads [notify] (doctor_notify.py): route = "direct" is one warning naming the risk."""
    install.configure('[notify]\nroute = "direct"\n[notify.webhook]\nurl = "https://ntfy.example.org/desk"\n')
    out = run_tipline("doctor", "--data-dir", str(install.data_dir), check=False)
    assert "Traceback" not in out.stderr + out.stdout
    warnings = [ln for ln in out.stdout.splitlines() if 'route = "direct"' in ln]
    assert len(warnings) == 1 and warnings[0].startswith("warning:"), out.stdout
    assert "learns where the onion service runs" in warnings[0]

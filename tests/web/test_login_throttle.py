"""The login throttle and one-time codes: real parallel requests, and the design's numbers.

The numbers asserted here are the ones docs/threat-model.md states: five
tries at once, then one every 12 s, then after twenty one every 6 minutes;
the buckets refill with time alone, so a slow trickle never locks anyone out.
"""

from __future__ import annotations

import sqlite3

import pyotp
import pytest

from tests.web.logins import PASSPHRASE, enrol, parallel_logins, statuses
from tests.web.server import Server, free_port, make_server
from tipline.store.accounts import LoginRefused, Throttled, open_accounts

WORKERS = "4"  # several processes, each with gunicorn's 8 threads


@pytest.fixture(scope="module")
def journalist_app(tmp_path_factory, keydir):
    base = tmp_path_factory.mktemp("throttle")
    source = make_server(base, keydir / "journalist.pub")  # adds the recipient key
    srv = Server(source.data_dir, source.tmp_dir, base / "journalist.log", free_port())
    srv.start("--app", "journalist", "--workers", WORKERS)
    yield srv
    srv.stop()


def sessions_of(srv: Server, name: str) -> int:
    con = sqlite3.connect(srv.data_dir / "journalist" / "accounts.db")
    try:
        return con.execute(
            "select count(*) from journalist_sessions where journalist = ?", (name,)
        ).fetchone()[0]
    finally:
        con.close()


def test_parallel_wrong_logins_are_checked_five_at_most(journalist_app, tmp_path):
    name, _totp, _ = enrol(journalist_app.data_dir, "par", tmp_path)
    results = parallel_logins(journalist_app, [{"name": name, "passphrase": "guess", "code": "123456"}] * 40)
    # Five passphrase checks (401); every other request is refused before its check (429).
    assert statuses(results) == {401: 5, 429: 35}, results
    assert all(1 <= int(wait) <= 12 for status, wait in results if status == 429), results


def test_one_code_makes_one_session_under_parallel_logins(journalist_app, tmp_path):
    name, totp, _ = enrol(journalist_app.data_dir, "once", tmp_path)
    code = totp.now()
    results = parallel_logins(journalist_app, [{"name": name, "passphrase": PASSPHRASE, "code": code}] * 10)
    counts = statuses(results)
    assert counts[303] == 1, results  # the code is spent once, however many requests race for it
    assert counts[401] >= 1 and counts[303] + counts[401] + counts[429] == 10, results
    assert sessions_of(journalist_app, name) == 1


def test_unknown_name_gets_the_answers_a_real_one_gets(journalist_app, tmp_path):
    real, _totp, _ = enrol(journalist_app.data_dir, "real", tmp_path)
    answers = {}
    for name in (real, "nosuchname"):
        wrong = [{"name": name, "passphrase": "guess", "code": "123456"}]
        answers[name] = [parallel_logins(journalist_app, wrong)[0][0] for _ in range(7)]
    assert answers[real] == answers["nosuchname"] == [401] * 5 + [429] * 2
    # And in parallel: the same split as for a real name.
    results = parallel_logins(journalist_app, [{"name": "alsonobody", "passphrase": "g", "code": "1"}] * 40)
    assert statuses(results) == {401: 5, 429: 35}


def accounts(tmp_path):
    return open_accounts(f"sqlite:///{tmp_path / 'accounts.db'}", tmp_path / "totp.key")


T0 = 1_900_000_000


def greedy_attacker(acc, name: str, start: float, seconds: int) -> tuple[list[float], list[int]]:
    """Try again at once after each check, and exactly when told after each wait: the fastest possible."""
    allowed, waits, now = [], [], start
    while now < start + seconds and len(allowed) <= 40:  # the design allows 29; a broken one, many more
        try:
            acc.login(name, "wrong guess", "000000", now=now)
        except LoginRefused:
            allowed.append(now - start)
        except Throttled as e:
            waits.append(e.wait)
            now += e.wait
    return allowed, waits


def test_throttle_numbers(tmp_path):
    acc = accounts(tmp_path)
    acc.add("ana", PASSPHRASE)
    allowed, waits = greedy_attacker(acc, "ana", T0, 3600)
    assert allowed[:5] == [0] * 5  # five at once ...
    assert waits[:15] == [12] * 15  # ... then one every 12 s (5 a minute) up to twenty ...
    assert allowed[5:20] == [12 * i for i in range(1, 16)]
    assert waits[15:] == [180] + [360] * 9  # ... then one every 6 minutes: the longest wait there is
    assert len(allowed) == 29  # checks in the first hour; then 10 an hour
    # Time alone refills it: two hours later, five at once again.
    later = T0 + 3600 + 2 * 3600
    for _ in range(5):
        with pytest.raises(LoginRefused):
            acc.login("ana", "wrong guess", "000000", now=later)
    with pytest.raises(Throttled) as e:
        acc.login("ana", "wrong guess", "000000", now=later)
    assert e.value.wait == 12


def test_a_slow_trickle_never_locks_the_journalist_out(tmp_path):
    acc = accounts(tmp_path)
    enrolment = acc.add("bea", PASSPHRASE)
    totp = pyotp.parse_uri(enrolment.totp_uri)
    # A stranger's wrong try every 10 minutes for 2 hours: each is checked, none is made to wait ...
    for i in range(12):
        with pytest.raises(LoginRefused):
            acc.login("bea", "a stranger's guess", "000000", now=T0 + 600 * i)
    # ... and the journalist, 5 minutes after the last, gets in at the first try.
    now = T0 + 600 * 11 + 300
    assert acc.session_user(acc.login("bea", PASSPHRASE, totp.at(now), now=now), now=now) == "bea"


def test_a_good_login_costs_no_attempt(tmp_path):
    acc = accounts(tmp_path)
    enrolment = acc.add("cy", PASSPHRASE)
    totp = pyotp.parse_uri(enrolment.totp_uri)
    for _ in range(4):
        with pytest.raises(LoginRefused):
            acc.login("cy", "typo", "000000", now=T0)
    acc.login("cy", PASSPHRASE, totp.at(T0), now=T0)  # the fifth slot, given back on success
    with pytest.raises(LoginRefused):
        acc.login("cy", "typo", "000000", now=T0)
    with pytest.raises(Throttled):
        acc.login("cy", "typo", "000000", now=T0)


def test_throttle_rows_are_pruned_and_hold_no_names(tmp_path):
    acc = accounts(tmp_path)
    for i in range(3):
        with pytest.raises(LoginRefused):
            acc.login(f"made-up-{i}", "guess", "000000", now=T0)
    con = sqlite3.connect(tmp_path / "accounts.db")
    tags = [r[0] for r in con.execute("select name_tag from login_throttle")]
    assert len(tags) == 3 and not any("made-up" in t for t in tags)
    # Once a name's buckets are full again its row goes, the next time anyone tries to log in.
    with pytest.raises(LoginRefused):
        acc.login("someone-else", "guess", "000000", now=T0 + 361)
    assert con.execute("select count(*) from login_throttle").fetchone()[0] == 1
    con.close()

"""The period arithmetic, the sentences, the failed-logins line and the state file, on their own."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from tipline.notify.digest import Activity, compose, current_period, failed_logins, previous_period
from tipline.notify.settings import NotifySettings
from tipline.notify.state import StateError, load, state_path

DAILY = NotifySettings(hour=8)
WEEKLY = NotifySettings(period="weekly", weekday=0, hour=8)  # Mondays, 08:00 UTC


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("ns", "now", "period"),
    [
        (DAILY, "2026-12-01 07:59", date(2026, 11, 30)),
        (DAILY, "2026-12-01 08:00", date(2026, 12, 1)),
        (DAILY, "2026-12-01 23:59", date(2026, 12, 1)),
        (WEEKLY, "2026-11-30 07:59", date(2026, 11, 23)),  # a Monday, before the hour
        (WEEKLY, "2026-11-30 08:00", date(2026, 11, 30)),
        (WEEKLY, "2026-12-06 23:00", date(2026, 11, 30)),  # the Sunday after
    ],
)
def test_the_period_due(ns, now, period):
    assert current_period(ns, at(now)) == period


def test_the_previous_period():
    assert previous_period(DAILY, date(2026, 12, 1)) == date(2026, 11, 30)
    assert previous_period(WEEKLY, date(2026, 11, 30)) == date(2026, 11, 23)


def test_the_sentences():
    none, some = Activity(0, 0, 0), Activity(3, 1, 1)
    assert compose(DAILY, none, {}) is None
    assert compose(NotifySettings(send_when_quiet=True), none, {}) == (
        "There has been no new activity on the tip line since the last notification.\n"
    )
    assert (
        compose(DAILY, some, {})
        == "There has been new activity on the tip line since the last notification.\n"
    )
    # Failed logins are worth a message even in a quiet period that is otherwise silent.
    assert compose(DAILY, none, {"ben": 1, "ana": 3}) == (
        "There has been no new activity on the tip line since the last notification.\n"
        "Failed logins since the last notification: ana: 3, ben: 1.\n"
    )


def test_failed_logins_come_from_the_activity_log(install):
    """The digest's failed-login line is what the activity log counted, per account, since the
    window's start; nothing earlier, and never the typed name of an unknown account."""
    from tipline.notify.run import open_accounts_db
    from tipline.store.activity import ActivityLog
    from tipline.store.db import make_sessions

    engine = open_accounts_db(install.settings)
    try:
        accounts = make_sessions(engine)
        assert failed_logins(accounts, "2026-11-30T08:00Z") == {}  # a fresh installation has none
        log = ActivityLog(accounts)
        log.record("ana", "login_failed")
        log.record("ana", "login_failed")
        log.record("(unknown name)", "login_failed")
        log.record("ben", "login")
        assert failed_logins(accounts, "2026-11-30T08:00Z") == {"ana": 2, "(unknown name)": 1}
        assert failed_logins(accounts, "2999-01-01T00:00Z") == {}
    finally:
        engine.dispose()


def test_a_damaged_state_file_is_one_line(install):
    path = state_path(install.settings)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(StateError, match="Move it aside to start afresh"):
        load(path)
    path.write_text(json.dumps({"version": 9, "channels": {}}))
    with pytest.raises(StateError, match="not one this version wrote"):
        load(path)


def test_the_state_file_is_the_owners_alone(install):
    state = load(state_path(install.settings))
    state.channel("webhook").settled = "2026-12-01"
    state.save()
    path = state_path(install.settings)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load(path).channels["webhook"].settled == "2026-12-01"
    assert [p.name for p in path.parent.iterdir()] == ["notify-state.json"]

"""The activity log with the accounts on PostgreSQL: parallel failed logins, each counted once."""

from __future__ import annotations

from tests.postgres import new_database, pg_url  # noqa: F401 (a fixture)
from tests.web.logins import parallel_logins, statuses
from tests.web.newsroom import login, start_newsroom, token_of
from tests.web.test_activity import log_of, totals
from tipline.store.activity import ADMIN, UNKNOWN_NAME


def test_activity_log_on_postgres(pg_url, tmp_path, keydir):  # noqa: F811
    subs, accounts = new_database(pg_url, "activity_subs"), new_database(pg_url, "activity_accounts")
    room = start_newsroom(
        tmp_path, keydir, f'database_url = "{subs}"\naccounts_database_url = "{accounts}"\n'
    )
    try:
        assert not (room.data_dir / "journalist" / "accounts.db").exists()  # really on PostgreSQL
        j = room.journalist
        name = room.enrol("pgana")
        wrong = parallel_logins(j, [{"name": name, "passphrase": "guess", "code": "123456"}] * 40)
        unknown = parallel_logins(j, [{"name": "nobody-pg", "passphrase": "g", "code": "1"}] * 40)
        assert statuses(wrong) == statuses(unknown) == {401: 5, 429: 35}
        # The same name in parallel from two workers: one row, counted by one UPDATE each.
        assert log_of(room.data_dir).failed_logins("2000-01-01T00:00Z") == {name: 5, UNKNOWN_NAME: 5}

        cid, _source = room.open_conversation("on postgres")
        other = room.enrol("pgben")  # a fresh name: the throttle has no tries charged to it
        login(j, other, room.totp[other])
        r = j.post_urlencoded("/download", {"csrf_token": token_of(j, "/"), "conversation": cid})
        assert r.status == 200 and len(r.body) > 1024
        assert totals(log_of(room.data_dir)) == {
            (ADMIN, "account_added", f"name={name}"): 1,
            (ADMIN, "account_added", f"name={other}"): 1,
            (name, "login_failed", ""): 5,
            (UNKNOWN_NAME, "login_failed", ""): 5,
            (other, "login", ""): 1,
            (other, "download", f"submissions=1 conversations={cid[:8]}"): 1,
        }
    finally:
        room.stop()

"""Journalists left in the submissions database by an install from before commit b4d422f.

Then the accounts shared the source app's database, their TOTP secrets in
clear. `tipline upgrade` moves them into the accounts database, each secret
sealed with the journalist app's totp.key (tipline/store/account_key.py), and
drops the old tables, so the source app can no longer read them. Passphrases
and authenticators keep working; sessions are not moved (everyone logs in again).

If the accounts database already has journalists, that install has run a
version with its own accounts since: the old rows are dropped, not merged, so
an account removed since cannot come back with its old passphrase.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, inspect, select, text

from .account_key import AccountKey
from .models import Journalist

MOVED = "tipline_legacy_accounts_moved"  # sub02_accounts_out's check that the rows went somewhere


def move(submissions: Connection, accounts: Engine, key: AccountKey) -> list[str]:
    """Copy the old journalists (if the accounts database has none) and drop the old tables."""
    present = set(inspect(submissions).get_table_names())
    if "journalists" not in present:
        return []
    rows = submissions.execute(
        text("SELECT name, passphrase_hash, totp_secret, last_totp_step FROM journalists ORDER BY name")
    ).all()
    with accounts.begin() as acc:
        have = acc.execute(select(func.count()).select_from(Journalist)).scalar_one()
        if rows and not have:
            acc.execute(
                Journalist.__table__.insert(),
                [
                    {
                        "name": name,
                        "passphrase_hash": pw_hash,
                        "totp_secret": key.seal(name, secret),
                        "last_totp_step": step or 0,
                    }
                    for name, pw_hash, secret, step in rows
                ],
            )
    submissions.info[MOVED] = True
    if "journalist_sessions" in present:
        submissions.execute(text("DROP TABLE journalist_sessions"))
    submissions.execute(text("DROP TABLE journalists"))
    if not rows:
        return ["dropped the empty account tables left from before the separation"]
    if have:
        return [
            f"dropped {len(rows)} old account(s) left from before the separation "
            "(the accounts database has its own since)"
        ]
    return [f"moved {len(rows)} journalist(s) into the accounts database, their TOTP secrets sealed"]

"""Every command that opens a database refuses an install that needs `tipline upgrade`, and makes nothing.

On a data folder of 4fd8b02's code (journalists in the submissions database,
their TOTP secrets in clear, no accounts database: tests/ops/conftest.py's
`template`), `tipline journalist list` once made an empty accounts database
and a totp.key beside the old journalists and said "No journalists". Now each
command that opens either database checks both first, read only
(tipline/cli_common.py require_upgraded), and stops with the apps' line and
exit status 2: no file is made, none changes, not even its time.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_tipline
from tests.ops.test_upgrade_refusals import at_revision, contents, refused_with
from tipline.store.schema import head_revision

pytestmark = pytest.mark.slow

RUN = "run tipline upgrade --data-dir {data} (after a backup: docs/upgrades.md)"


def commands(data, out) -> list[list[str]]:
    """The commands that open the accounts or the submissions database, as an admin runs them."""
    d = ["--data-dir", str(data)]
    return [
        ["journalist", "list", *d],
        ["journalist", "add", "carol", *d],
        ["journalist", "remove", "ana", *d],
        ["journalist", "reset-totp", "bo", *d],
        ["log", *d],
        ["notify", "test", *d],
        ["purge", "--older-than", "0d", *d],
        ["export", "--out", str(out / "bundle"), *d],
    ]


def all_refused(data, out, line: str, only: tuple[str, ...] = ()) -> None:
    before = contents(data)  # every file's bytes and times: a refusal makes and changes nothing
    for argv in commands(data, out):
        if only and argv[:2] != ["journalist", "list"] and argv[0] not in only:
            continue
        refused_with(line, run_tipline(*argv, check=False))
        assert contents(data) == before, argv
    assert not (out / "bundle").exists()


def test_on_an_install_from_before_migrations_every_command_refuses_and_makes_nothing(data, tmp_path):
    """The accounts commands too, though the database behind is the other one (the submissions')."""
    assert not (data / "journalist" / "accounts.db").exists()
    line = (
        "The submissions database was made by a Tipline from before schema migrations: a migration "
        f"is pending, {RUN.format(data=data)}"
    )
    all_refused(data, tmp_path, line)
    journalist = data / "journalist"
    assert not (journalist / "accounts.db").exists() and not (journalist / "totp.key").exists()

    assert "moved 2 journalist(s)" in run_tipline("upgrade", "--data-dir", str(data)).stdout
    assert run_tipline("journalist", "list", "--data-dir", str(data)).stdout.split() == ["ana", "bo"]


def test_a_command_refuses_when_the_database_it_does_not_write_is_behind(data, tmp_path):
    """After an upgrade, one database moved back to an older revision: the commands that write to the
    other refuse too (purge and the journalist commands log in the accounts database)."""
    run_tipline("upgrade", "--data-dir", str(data))
    acc_head = head_revision("accounts")
    at_revision(data, "acc02_activity", "accounts")
    line = (
        "The accounts database is at schema revision acc02_activity, older than this code's "
        f"({acc_head}): a migration is pending, {RUN.format(data=data)}"
    )
    all_refused(data, tmp_path, line, only=("purge",))
    fingerprint = run_tipline("keys", "list", "--data-dir", str(data)).stdout.split()[1]
    before = contents(data)
    refused_with(line, run_tipline("keys", "retire", fingerprint, "--data-dir", str(data), check=False))
    assert contents(data) == before  # the key is still active: its retirement could not be logged

    at_revision(data, acc_head, "accounts")
    at_revision(data, "sub03_conversations")
    line = (
        "The submissions database is at schema revision sub03_conversations, older than this code's "
        f"(sub04_status): a migration is pending, {RUN.format(data=data)}"
    )
    all_refused(data, tmp_path, line, only=("export",))
    at_revision(data, "sub04_status")  # its tables are sub04's already: only the row was moved back
    assert run_tipline("journalist", "list", "--data-dir", str(data)).stdout.split() == ["ana", "bo"]

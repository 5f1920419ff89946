"""A tip deleted during the backup's copy, forced: the copy starts again, and gives up after its bound.

The load test (tests/ops/test_backup.py) makes a deletion mid-copy likely; here
it happens every time, at the one moment that matters: after the database
snapshot is taken and before the envelope it names is copied (take_backup's
`after_snapshot`, called between the two). The deletion is a journalist's, for
real, through the store the journalist app uses; the backup is the real one,
restored with the real `tipline restore` and read back by the real offline tool.
"""

from __future__ import annotations

import pytest

from tests.conftest import export_and_decrypt, run_tipline, submission_folders
from tests.store.conversation_helpers import Source, first_tip, open_store
from tests.web.server import make_server
from tipline.config import load_settings
from tipline.ops.backup import ATTEMPTS, BackupError, Snapshot, take_backup
from tipline.store.keyring import Keyring

TIPS = [f"tip {i}, in the data folder when the backup begins" for i in range(ATTEMPTS + 1)]


@pytest.fixture
def served(tmp_path, keydir):
    """A data folder with a key and one conversation per tip; its store, as the journalist app opens it."""
    srv = make_server(tmp_path / "live", keydir / "journalist.pub")
    settings = load_settings(srv.data_dir)
    convs = open_store(settings.db_url, settings.store_dir)
    key = Keyring(settings.keys_dir).active()[0]
    for text in TIPS:
        first_tip(convs, key, Source.new(), text)
    assert len(convs.store.list()) == len(TIPS)
    return settings, convs


def test_a_tip_deleted_after_the_snapshot_makes_the_copy_start_again(served, tmp_path, keydir):
    settings, convs = served
    seen: list[list[str]] = []

    def delete_one_the_first_time(snap: Snapshot) -> None:
        seen.append([sid for sid, _count in snap.submissions])
        if len(seen) == 1:  # the envelopes this snapshot names are not copied yet: one goes now
            assert convs.store.delete([snap.submissions[0][0]])[0] == 1

    out = tmp_path / "backups" / "tipline.backup"
    out.parent.mkdir()
    subs, _replies = take_backup(settings, out, after_snapshot=delete_one_the_first_time)
    assert len(seen) == 2, "the copy did not start again"
    assert len(seen[0]) == len(TIPS) and seen[1] == seen[0][1:] and subs == len(TIPS) - 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["tipline.backup"]

    target = make_server(tmp_path / "restored", keydir / "journalist.pub")
    r = run_tipline("restore", str(out), "--data-dir", str(target.data_dir))
    assert r.stdout.startswith(f"Restored {out}"), r.stderr
    decrypted = export_and_decrypt(target.data_dir, keydir, tmp_path / "work")
    texts = sorted((d / "message.txt").read_text() for d in submission_folders(decrypted).values())
    left = sorted(s.id for s in convs.store.list())
    assert len(texts) == len(set(texts)) == len(TIPS) - 1 and set(texts) < set(TIPS)
    assert sorted(submission_folders(decrypted)) == left  # exactly the tips left, each decrypted


def test_a_backup_disturbed_every_time_gives_up_after_its_attempts_and_writes_nothing(served, tmp_path):
    settings, convs = served
    calls: list[int] = []

    def delete_one_each_time(snap: Snapshot) -> None:
        calls.append(len(snap.submissions))
        convs.store.delete([snap.submissions[0][0]])

    out = tmp_path / "backups" / "tipline.backup"
    out.parent.mkdir()
    with pytest.raises(BackupError) as refused:
        take_backup(settings, out, after_snapshot=delete_one_each_time)
    assert calls == [len(TIPS) - n for n in range(ATTEMPTS)]  # ATTEMPTS copies, then no more
    message = str(refused.value)
    assert "\n" not in message and message == (
        f"Tips or replies were deleted while each of {ATTEMPTS} attempts copied them, so no backup "
        "was written. Run it again when fewer are being deleted."
    )
    assert list(out.parent.iterdir()) == []  # no file, and no temporary one left behind
    assert not list(settings.data_dir.glob(".backup-*"))  # nor the database copies

"""The pending uploads folder on its own (tipline/store/uploads.py): ids, parts, locks, quota, clean-up."""

from __future__ import annotations

import calendar
import io
import json
import os
import threading
import time
from pathlib import Path

import pytest

from tipline.store.db import make_engine, make_sessions
from tipline.store.submissions import SubmissionStore
from tipline.store.upload_state import (
    CutShort,
    QuotaReached,
    TooLong,
    UnknownUpload,
    UploadBusy,
    UploadExpired,
    WrongOffset,
)
from tipline.store.uploads import MAX_PART, PIECE, PendingUploads


def uploads(tmp_path: Path, **kw) -> PendingUploads:
    limits = dict(hours=24, max_total=10_000_000, max_count=50, max_length=5_000_000) | kw
    (tmp_path / "store" / "pending").mkdir(parents=True, exist_ok=True)
    p = PendingUploads(tmp_path / "store" / "pending" / "uploads", **limits)
    p.make_folder()
    return p


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class Trickle(io.RawIOBase):
    """A request body: gives at most what was asked, records the largest ask, may fail or end early."""

    def __init__(self, data: bytes, fail_at: int | None = None) -> None:
        self.data, self.pos, self.fail_at, self.largest = data, 0, fail_at, 0

    def read(self, n: int = -1) -> bytes:
        self.largest = max(self.largest, n)
        if self.fail_at is not None and self.pos >= self.fail_at:
            raise ConnectionResetError("gone")
        piece = self.data[self.pos : self.pos + n]
        self.pos += len(piece)
        return piece


def test_create_append_state(tmp_path):
    p = uploads(tmp_path)
    st = p.create(300_000)
    assert (st.offset, st.length, st.committed) == (0, 300_000, False)
    # It lives at least the limit: the hour it was made plus the limit plus one.
    assert st.expires_ts - time.time() >= 24 * 3600
    data = os.urandom(300_000)
    body = Trickle(data[:200_000])
    assert p.append(st.id, 0, body, 200_000).offset == 200_000
    assert body.largest <= PIECE  # a piece at a time, never the whole part in memory
    assert p.state(st.id).offset == 200_000
    with pytest.raises(WrongOffset) as e:
        p.append(st.id, 100, Trickle(data[100:]), 10)
    assert e.value.offset == 200_000
    with pytest.raises(TooLong):
        p.append(st.id, 200_000, Trickle(data), 100_001)
    with pytest.raises(TooLong):
        p.append(st.id, 200_000, Trickle(data), MAX_PART + 1)
    assert p.append(st.id, 200_000, Trickle(data[200_000:]), 100_000).complete
    assert (p.folder / st.id).read_bytes() == data
    sidecar = json.loads((p.folder / f"{st.id}.json").read_text())
    assert sidecar == {"v": 1, "length": 300_000, "expires": st.expires}


@pytest.mark.parametrize("how", ["short", "fails"])
def test_a_part_that_does_not_arrive_whole_leaves_nothing(tmp_path, how):
    p = uploads(tmp_path)
    st = p.create(500_000)
    data = os.urandom(500_000)
    p.append(st.id, 0, Trickle(data[:100_000]), 100_000)
    before = snapshot(tmp_path)
    body = Trickle(data[100_000:300_000]) if how == "short" else Trickle(data[100_000:], fail_at=150_000)
    with pytest.raises(CutShort):
        p.append(st.id, 100_000, body, 400_000)
    assert snapshot(tmp_path) == before and p.state(st.id).offset == 100_000


@pytest.mark.parametrize(
    "bad", ["../x", "..", "", "a/b", "A" * 21, "A" * 23, "A" * 21 + "/", "A" * 21 + ".", ".lock", "é" * 22]
)
def test_hostile_ids_touch_nothing(tmp_path, bad):
    p = uploads(tmp_path)
    p.create(10)
    (tmp_path / "store" / "x").write_bytes(b"outside")
    before = snapshot(tmp_path)
    for call in (
        lambda: p.state(bad),
        lambda: p.append(bad, 0, Trickle(b"y"), 1),
        lambda: p.delete(bad),
        lambda: p.claim([bad]).__enter__(),
    ):
        with pytest.raises(UnknownUpload):
            call()
    assert snapshot(tmp_path) == before


def test_quota_by_count_and_length_holds_under_threads(tmp_path):
    """Each thread with its own PendingUploads, as each worker process has: only the flock joins them."""
    made, refused = [], []

    def one(length: int) -> None:
        try:
            made.append(uploads(tmp_path, max_total=1_000_000, max_count=6).create(length))
        except QuotaReached:
            refused.append(length)

    threads = [threading.Thread(target=one, args=(300_000 if i % 2 else 10,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) <= 6 and sum(s.length for s in made) <= 1_000_000
    assert len(made) + len(refused) == 20 and refused
    assert len(list((tmp_path / "store" / "pending" / "uploads").glob("*.json"))) == len(made)


def test_a_busy_upload_answers_busy(tmp_path):
    p = uploads(tmp_path)
    st = p.create(10)
    with p.claim([st.id]), pytest.raises(UploadBusy):
        p.append(st.id, 0, Trickle(b"0123456789"), 10)
    assert p.state(st.id).offset == 0


def test_committed_leaves_a_marker_until_it_expires(tmp_path):
    p = uploads(tmp_path)
    st = p.create(4)
    p.append(st.id, 0, Trickle(b"abcd"), 4)
    with p.claim([st.id]) as states:
        assert states[st.id].complete
        p.mark_committed([st.id])
    assert sorted(x.name for x in p.folder.iterdir() if x.name != ".lock") == [
        f"{st.id}.done",
        f"{st.id}.json",
    ]
    with p.claim([st.id]) as states:
        assert states[st.id].committed
    for call in (lambda: p.state(st.id), lambda: p.delete(st.id)):
        with pytest.raises(UnknownUpload):
            call()


def _expire(p: PendingUploads, upload_id: str) -> None:
    sidecar = p.folder / f"{upload_id}.json"
    doc = json.loads(sidecar.read_text())
    doc["expires"] = time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(time.time() - 3600))
    sidecar.write_text(json.dumps(doc))


def test_expired_uploads_are_refused_then_removed(tmp_path):
    p = uploads(tmp_path, max_count=2)
    fresh, old = p.create(4), p.create(4)
    _expire(p, old.id)
    with pytest.raises(UploadExpired):
        p.state(old.id)
    with pytest.raises(UploadExpired):
        p.append(old.id, 0, Trickle(b"abcd"), 4)
    done = p.create(4)  # the quota does not count what expired: it goes at the next creation
    assert not (p.folder / old.id).exists()
    p.append(done.id, 0, Trickle(b"abcd"), 4)
    with p.claim([done.id]):
        p.mark_committed([done.id])
    busy = p.create(4)
    for st in (done, busy):
        _expire(p, st.id)
    (p.folder / ("Z" * 22)).write_bytes(b"a crash left this without its sidecar")
    with p.claim([busy.id]):
        assert p.remove_expired() == 1  # the committed one; the busy one waits for the next time
    assert sorted(x.name for x in p.folder.iterdir()) == sorted(
        [".lock", fresh.id, f"{fresh.id}.json", busy.id, f"{busy.id}.json"]
    )
    assert p.remove_expired() == 1
    assert calendar.timegm(time.strptime(fresh.expires, "%Y-%m-%dT%H:00Z")) == fresh.expires_ts


def test_recover_keeps_uploads_and_removes_intake_folders(tmp_path):
    p = uploads(tmp_path)
    st = p.create(4)
    p.append(st.id, 0, Trickle(b"ab"), 2)
    store = SubmissionStore(tmp_path / "store", make_sessions(make_engine(f"sqlite:///{tmp_path / 'db'}")))
    (store.pending / "an-intake").mkdir()
    (store.pending / "an-intake" / "1.part").write_bytes(b"x")
    assert store.recover() == 1
    assert not (store.pending / "an-intake").exists()
    assert p.state(st.id).offset == 2

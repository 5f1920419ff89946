"""What a copy of the data folder tells whoever holds it: times, arrival order, deleted tips.

A real gunicorn with three workers takes tips over HTTP, some at once and some
one after another (so the test knows their arrival order); the journalist app
downloads and deletes some, and the store deletes one more from another
process; then sources and the journalist only look at pages. With both
servers still running (a backup or a seizure does not wait for a clean stop),
the data folder is then read as an attacker would: every path's times, every
byte of every file, and the SQLite database and any write-ahead log parsed by
hand (tests/store/sqlitefile.py).
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest

from tests.conftest import run_tipline as tipline
from tests.store import sqlitefile
from tests.store.conversation_helpers import Source, add_reply, first_tip, reply_envelope
from tests.web.server import Server, free_port, make_server
from tipline.format.keys import PublicKey
from tipline.store.conversations import ConversationStore
from tipline.store.db import make_engine, make_sessions
from tipline.store.submissions import SubmissionStore

HOUR_NS = 3600 * 10**9
PASSPHRASE = "orbit velvet canyon maple ticket frozen lantern"
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
SEQUENTIAL = 14  # tips sent one at a time, whose order the test records
PARALLEL = (6, 3)  # threads x tips each, sent at once across the workers
CONVERSATIONS = 5  # opened one after another, each with a first tip and two replies


@dataclass
class Evidence:
    """The data folder as copied while the servers run, and what the test knows happened."""

    root: Path
    arrival: list[str]  # ids of the sequential tips, in the order they arrived
    deleted: list[str]
    gone_envelopes: list[bytes] = field(default_factory=list, repr=False)  # replies the source deleted
    times: dict[str, os.stat_result] = field(default_factory=dict, repr=False)  # before any read
    files: dict[str, bytes] = field(default_factory=dict, repr=False)


def tip(srv: Server, text: str) -> None:
    token = TOKEN.search(srv.get("/").body.decode()).group(1)
    assert srv.post_form([("csrf_token", token), ("message", text)]).status == 200  # the codename page


def ids_on_disk(data: Path) -> set[str]:
    return {p.name for p in (data / "store" / "submissions").iterdir()}


def journalist_delete(j: Server, data: Path, ids: list[str], tmp: Path) -> None:
    """Log in, download everything new (a write: downloads are recorded), then delete these ids."""
    (tmp / "pw").write_text(PASSPHRASE + "\n")
    out = tipline("journalist", "add", "ana", "--data-dir", str(data), "--passphrase-file", str(tmp / "pw"))
    totp = pyotp.parse_uri(next(x for x in out.stdout.splitlines() if x.startswith("otpauth://")))
    token = TOKEN.search(j.get("/login").body.decode()).group(1)
    login = {"csrf_token": token, "name": "ana", "passphrase": PASSPHRASE, "code": totp.now()}
    r = j.post_urlencoded("/login", login)
    assert r.status == 303, r.body
    token = TOKEN.search(j.get("/").body.decode()).group(1)
    assert j.post_urlencoded("/download", {"csrf_token": token, "which": "new"}).status == 200
    token = TOKEN.search(j.get("/").body.decode()).group(1)
    r = j.post_urlencoded("/delete", {"csrf_token": token, "id": ids})
    token = TOKEN.search(r.body.decode()).group(1)
    r = j.post_urlencoded("/delete/confirmed", {"csrf_token": token, "id": ids, "confirm": "yes"})
    assert r.status == 200 and f"Deleted {len(ids)} submission".encode() in r.body


def copy_as_attacker(ev: Evidence) -> None:
    """Every path's times first (reading a file or a folder may move its atime), then every byte."""
    todo = [ev.root]
    while todo:
        path = todo.pop()
        st = os.lstat(path)
        ev.times[str(path.relative_to(ev.root.parent))] = st
        if stat.S_ISDIR(st.st_mode):
            todo += sorted(path.iterdir())
    for name, st in ev.times.items():
        if stat.S_ISREG(st.st_mode):
            ev.files[name] = (ev.root.parent / name).read_bytes()


@pytest.fixture(scope="module")
def evidence(tmp_path_factory, keydir) -> Evidence:
    base = tmp_path_factory.mktemp("forensics")
    source = make_server(base, keydir / "journalist.pub").start("--workers", "3")
    journalist = Server(source.data_dir, source.tmp_dir, base / "journalist.log", free_port())
    journalist.start("--app", "journalist")
    data = source.data_dir
    try:
        threads, lanes = PARALLEL
        errors: list[BaseException] = []

        def lane(n: int) -> None:
            client = Server(data, source.tmp_dir, source.log_path, source.port)  # its own cookies
            try:
                for i in range(lanes):
                    tip(client, f"parallel {n}.{i}")
            except BaseException as e:  # reported below, in the test's thread
                errors.append(e)

        pool = [threading.Thread(target=lane, args=(n,)) for n in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(120)
        assert not errors, errors
        parallel = sorted(ids_on_disk(data))

        arrival: list[str] = []
        for i in range(SEQUENTIAL):
            before = ids_on_disk(data)
            tip(source, f"sequential {i}")
            (new,) = ids_on_disk(data) - before
            arrival.append(new)

        engine = make_engine(f"sqlite:///{data / 'tipline.sqlite3'}")  # a third process's connection
        store = SubmissionStore(data / "store", make_sessions(engine))
        convs = ConversationStore(store)
        newsroom = PublicKey.from_text((keydir / "journalist.pub").read_text())
        deleted_conv: list[str] = []
        gone: list[bytes] = []
        for i in range(CONVERSATIONS):  # conversations, their tips and replies, in a known order
            who = Source.new()
            cid = first_tip(convs, newsroom, who, f"conversation {i}")
            (sub,) = [e.id for e in convs.thread(cid)]
            envelopes = [reply_envelope(f"reply {i}.{n}", who.public_key, newsroom) for n in range(2)]
            replies = [add_reply(convs, cid, env) for env in envelopes]
            arrival += [cid, sub, *replies]
            if i == 1:
                deleted_conv = [cid, sub, *replies]
            if i == 3:
                assert convs.delete_reply(cid, replies[0])
                gone.append(envelopes[0])

        by_journalist = [arrival[3], arrival[8], parallel[0]]
        journalist_delete(journalist, data, by_journalist, base)
        store.delete([arrival[11]])
        assert convs.delete(deleted_conv[:1]) == 1
        engine.dispose()
        for _ in range(3):  # sources who only look, and a journalist who only reads
            assert source.get("/").status == 200
            assert journalist.get("/").status == 200

        ev = Evidence(data, arrival, [*by_journalist, arrival[11], *deleted_conv], gone)
        copy_as_attacker(ev)
        yield ev
    finally:
        source.stop()
        journalist.stop()


def databases(files: dict[str, bytes]) -> dict[str, sqlitefile.Database]:
    """Every SQLite database in the copy, as a reader sees it: the file, with its WAL's commits."""
    return {
        name: sqlitefile.Database(sqlitefile.with_wal(data, files.get(f"{name}-wal")))
        for name, data in files.items()
        if data.startswith(b"SQLite format 3\0")
    }


def concordance(seen: list[str], truth: list[str]) -> float:
    """Share of pairs that `seen` puts in arrival order: 1.0 gives the order away, ~0.5 is chance."""
    rank = {sid: i for i, sid in enumerate(truth)}
    seen = [s for s in seen if s in rank]
    pairs = [(a, b) for i, a in enumerate(seen) for b in seen[i + 1 :]]
    return sum(rank[a] < rank[b] for a, b in pairs) / len(pairs) if pairs else 0.5


def finer_than_the_hour(times: dict[str, os.stat_result]) -> list[str]:
    return [
        f"{name}: {kind} {getattr(st, f'st_{kind}_ns') % HOUR_NS / 1e9:.6f} s past the hour"
        for name, st in sorted(times.items())
        for kind in ("mtime", "atime")
        if getattr(st, f"st_{kind}_ns") % HOUR_NS
    ]


def test_every_path_keeps_its_times_to_the_hour(evidence):
    fine = finer_than_the_hour(evidence.times)
    print(f"{len(fine)} of {2 * len(evidence.times)} path times finer than the hour")
    assert fine == []


def test_no_write_ahead_log_or_journal_holds_pages(evidence):
    """A WAL keeps a copy of each page per commit: replayed frame by frame, it is the arrival order."""
    held = []
    for name, data in evidence.files.items():
        if name.endswith("-wal"):
            frames = sqlitefile.wal_frames(data)
            first_seen: dict[str, int] = {}
            for i, frame in enumerate(frames):
                for sid in evidence.arrival:
                    if sid.encode() in frame.data:
                        first_seen.setdefault(sid, i)
            order = sorted(first_seen, key=first_seen.get)
            commits = sum(f.commit_size > 0 for f in frames)
            print(
                f"{name}: {len(data)} bytes, {len(frames)} frames, {commits} commits; ordered by first "
                f"frame, {concordance(order, evidence.arrival):.0%} of pairs are in arrival order"
            )
            held.append(f"{name}: {len(frames)} frames")
        elif name.endswith("-journal") and data:
            held.append(f"{name}: {len(data)} bytes")
    assert held == []


def canonical(data: bytes, work: Path) -> bytes:
    """The same rows as SQLite lays them out when it inserts them in key order (VACUUM)."""
    path = work / "canonical.sqlite3"
    path.write_bytes(sqlitefile.as_rollback(data))
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA secure_delete=ON")
        con.execute("VACUUM")
    finally:
        con.close()
    return path.read_bytes()


def out_of_key_order(db: sqlitefile.Database, work: Path) -> list[int]:
    """Pages not laid out as inserting the same rows in key order lays them out."""
    reference = sqlitefile.Database(canonical(db.data, work))
    return [
        n
        for n in range(1, max(db.page_count, reference.page_count) + 1)
        if sqlitefile.layout(db, n) != sqlitefile.layout(reference, n)
    ]


def test_page_layout_is_what_the_rows_alone_give(evidence, tmp_path):
    """Where each cell sits on its page must depend on what the rows hold, never on when they came.

    SQLite puts a new cell below the last one on its page, so an attacker reading
    cells by offset reads the order of their inserts. Every page must instead be
    laid out exactly as inserting the same rows in key order lays it out.
    """
    differ = {}
    for file, db in databases(evidence.files).items():
        guesses = []
        for name, root in db.roots().items():
            for page in db.tree(root):
                by_offset = sorted(page.cells, key=lambda c: -c.offset)  # SQLite fills a page downwards
                seen = [s for c in by_offset for s in evidence.arrival if s.encode() in c.payload]
                if len(seen) > 1:
                    guesses.append(f"{name} page {page.number}: {concordance(seen, evidence.arrival):.0%}")
        if guesses:
            print(f"{file}: pairs in arrival order when cells are read by offset:", ", ".join(guesses))
        if pages := out_of_key_order(db, tmp_path):
            differ[file] = pages
        print(f"{file}: {len(pages)} of {db.page_count} pages laid out other than in key order")
    assert differ == {}


def old_bytes(db: sqlitefile.Database, work: Path) -> list[str]:
    """Free pages and freeblocks that hold anything but zeros, and unallocated space that holds
    anything but what laying out the live rows in key order leaves there.

    SQLite's b-tree balancing moves cells between sibling pages and does not zero
    the gap it leaves, even with secure_delete and even in a fresh VACUUM: a
    WITHOUT ROWID table of a few hundred rows ends with stray bytes of live
    cells between the cell pointers and the cells. Those bytes are a function
    of the live rows alone, so the gap must equal the same page's gap in the
    key-order reference; a deleted row's bytes, or an order, cannot be there.
    """
    work.mkdir(parents=True, exist_ok=True)
    reference = sqlitefile.Database(canonical(db.data, work))
    found = [f"free page {n}" for n in db.free_pages() if any(db.raw(n)[8:])]
    for name, root in db.roots().items():
        for page in db.tree(root):
            raw = db.raw(page.number)
            for off, size in page.freeblocks:
                if any(raw[off + 4 : off + size]):
                    found.append(f"{name} page {page.number}: freeblock at {off}")
            gap = raw[page.pointers_end : page.content_start]
            ref = reference.raw(page.number)
            if page.number > reference.page_count or gap != ref[page.pointers_end : page.content_start]:
                found.append(f"{name} page {page.number}: unallocated space")
    return found


def test_free_space_keeps_nothing(evidence, tmp_path):
    """Free pages and freeblocks hold only zeros; the gap between cell pointers and cells only what
    the live rows in key order leave there."""
    found = {}
    for file, db in databases(evidence.files).items():
        print(f"{file}: {db.freelist_count} free pages of {db.page_count}")
        if old := old_bytes(db, tmp_path / file.replace("/", "_")):
            found[file] = old
    assert found == {}


def test_a_deleted_tip_leaves_no_trace_in_any_file(evidence):
    left = {
        f"{sid} in {name}": n
        for sid in evidence.deleted
        for name, data in evidence.files.items()
        if (n := data.count(sid.encode()))
    }
    print(f"deleted ids found: {sum(left.values())} times in {len({k.split(' in ')[1] for k in left})} files")
    assert left == {}
    assert not any(sid in name for sid in evidence.deleted for name in evidence.times)  # nor in a name


def test_a_reply_the_source_deleted_leaves_no_ciphertext(evidence):
    """Its row stays (the newsroom sees it was deleted); no byte of its envelope's payload may."""
    assert evidence.gone_envelopes
    left = [
        name
        for env in evidence.gone_envelopes
        for name, data in evidence.files.items()
        if env[-64:] in data or env[9:49] in data  # the stream's last chunk; the first stanza
    ]
    assert left == []


OLD_VERSION = r"""
import os, secrets, sqlite3, sys
from sqlalchemy import create_engine
from tipline.store.models import Base
path, ids = sys.argv[1], sys.argv[2:]
Base.metadata.create_all(create_engine(f"sqlite:///{path}"))
con = sqlite3.connect(path, isolation_level=None)
for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON"):
    con.execute(f"PRAGMA {pragma}")
for sid in ids:
    con.execute("INSERT INTO submissions (id, received_hour, sealed_by, item_count, total_size, sealed_to) "
                "VALUES (?, '2026-01-01T10:00Z', 'server', 1, 9, 'A')", (sid,))
for sid in ids[::4]:
    con.execute("DELETE FROM submissions WHERE id = ?", (sid,))
os._exit(0)  # as a crash would: the WAL is never checkpointed
"""


def test_a_data_folder_left_by_an_older_version_is_made_clean_at_start(tmp_path):
    """A WAL with frames and deleted rows, exact folder times: what `tipline upgrade` finds."""
    data = tmp_path / "data"
    (data / "store" / "submissions").mkdir(parents=True)
    ids = [f"old{i:02d}x{os.urandom(8).hex()}" for i in range(16)]
    db = data / "tipline.sqlite3"
    subprocess.run([sys.executable, "-c", OLD_VERSION, str(db), *ids], check=True)
    assert Path(f"{db}-wal").stat().st_size > 0, "the old version left no WAL to clean"
    for sid in ids[1::4] + ids[2::4] + ids[3::4]:
        (data / "store" / "submissions" / sid).mkdir()
        (data / "store" / "submissions" / sid / "0.envelope").write_bytes(os.urandom(2048))

    # What an admin runs after installing the new version (docs/upgrades.md), then what `tipline
    # serve` does before any worker starts.
    upgraded = tipline("upgrade", "--data-dir", str(data)).stdout
    assert "schema (sub04_status), this version's: stamped" in upgraded, upgraded
    engine = make_engine(f"sqlite:///{db}")
    SubmissionStore(data / "store", make_sessions(engine)).recover()
    ev = Evidence(data, [sid for sid in ids if sid not in ids[::4]], ids[::4])
    copy_as_attacker(ev)
    engine.dispose()

    assert finer_than_the_hour(ev.times) == []
    assert [n for n in ev.files if n.endswith(("-wal", "-shm"))] == []
    assert [sid for sid in ev.deleted for data in ev.files.values() if sid.encode() in data] == []
    for name, database in databases(ev.files).items():
        assert out_of_key_order(database, tmp_path) == [], name
        assert old_bytes(database, tmp_path / name.replace("/", "-")) == [], name

"""Read a SQLite database and its write-ahead log the way a forensic tool does: byte by byte.

Written from the file format's own description (https://www.sqlite.org/fileformat2.html),
not through SQLite, so the tests see what a copy of the disk holds, not what the
library chooses to show: where each cell sits on its page, free pages, freeblocks
and every frame of a WAL.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

LEAF_TABLE, INTERIOR_TABLE, LEAF_INDEX, INTERIOR_INDEX = 13, 5, 10, 2
BTREE_KINDS = (LEAF_TABLE, INTERIOR_TABLE, LEAF_INDEX, INTERIOR_INDEX)
WAL_MAGIC = (0x377F0682, 0x377F0683)


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A SQLite varint at pos: (value, position after it). Up to 9 bytes, big-endian."""
    value = 0
    for i in range(8):
        b = buf[pos + i]
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, pos + i + 1
    return (value << 8) | buf[pos + 8], pos + 9


def record(payload: bytes) -> list[object]:
    """Decode a record (header of serial types, then values); enough for sqlite_schema rows."""
    header_len, pos = varint(payload, 0)
    types = []
    while pos < header_len:
        t, pos = varint(payload, pos)
        types.append(t)
    values: list[object] = []
    body = header_len
    sizes = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 7: 8, 8: 0, 9: 0}
    for t in types:
        if t in sizes:
            n = sizes[t]
            raw = payload[body : body + n]
            values.append(t - 8 if t in (8, 9) else int.from_bytes(raw, "big", signed=True) if n else None)
        else:
            n = (t - 12) // 2 if t % 2 == 0 else (t - 13) // 2
            raw = payload[body : body + n]
            values.append(raw if t % 2 == 0 else raw.decode("utf-8", "replace"))
        body += n
    return values


@dataclass
class Cell:
    offset: int  # where the cell starts on its page
    size: int  # bytes it occupies on the page (at least 4, as SQLite allocates)
    payload: bytes  # the part of the payload stored on this page
    child: int = 0  # left child page, on interior pages


@dataclass
class Page:
    number: int
    kind: int
    first_freeblock: int
    content_start: int
    fragmented: int
    right_child: int
    cells: list[Cell]  # in cell pointer order, which is key order
    pointers_end: int  # where the cell pointer array ends: unallocated space follows
    freeblocks: list[tuple[int, int]] = field(default_factory=list)  # (offset, size)


class Database:
    """One database file's bytes, parsed on demand."""

    def __init__(self, data: bytes) -> None:
        if data[:16] != b"SQLite format 3\0":
            raise ValueError("not a SQLite database")
        self.data = data
        size = struct.unpack(">H", data[16:18])[0]
        self.page_size = 65536 if size == 1 else size
        self.usable = self.page_size - data[20]
        self.page_count = len(data) // self.page_size
        self.freelist_trunk, self.freelist_count = struct.unpack(">II", data[32:40])

    def raw(self, number: int) -> bytes:
        return self.data[(number - 1) * self.page_size : number * self.page_size]

    def free_pages(self) -> list[int]:
        """Every page on the freelist: trunk pages and the leaf pages they list."""
        pages, trunk = [], self.freelist_trunk
        while trunk:
            raw = self.raw(trunk)
            nxt, count = struct.unpack(">II", raw[:8])
            pages.append(trunk)
            pages += list(struct.unpack(f">{count}I", raw[8 : 8 + 4 * count]))
            trunk = nxt
        return pages

    def _local(self, kind: int, p: int) -> tuple[int, bool]:
        u = self.usable
        x = u - 35 if kind == LEAF_TABLE else (u - 12) * 64 // 255 - 23
        if p <= x:
            return p, False
        m = (u - 12) * 32 // 255 - 23
        k = m + (p - m) % (u - 4)
        return (k if k <= x else m), True

    def page(self, number: int) -> Page:
        raw = self.raw(number)
        h = 100 if number == 1 else 0
        kind = raw[h]
        if kind not in BTREE_KINDS:
            raise ValueError(f"page {number} is not a b-tree page")
        first_free, n_cells, start, frag = struct.unpack(">HHHB", raw[h + 1 : h + 8])
        interior = kind in (INTERIOR_TABLE, INTERIOR_INDEX)
        right = struct.unpack(">I", raw[h + 8 : h + 12])[0] if interior else 0
        ptrs = h + (12 if interior else 8)
        cells = []
        for i in range(n_cells):
            off = struct.unpack(">H", raw[ptrs + 2 * i : ptrs + 2 * i + 2])[0]
            cells.append(self._cell(raw, kind, off))
        freeblocks, fb = [], first_free
        while fb:
            nxt, size = struct.unpack(">HH", raw[fb : fb + 4])
            freeblocks.append((fb, size))
            fb = nxt
        return Page(
            number, kind, first_free, start or 65536, frag, right, cells, ptrs + 2 * n_cells, freeblocks
        )

    def _cell(self, raw: bytes, kind: int, off: int) -> Cell:
        pos, child = off, 0
        if kind in (INTERIOR_TABLE, INTERIOR_INDEX):
            child = struct.unpack(">I", raw[pos : pos + 4])[0]
            pos += 4
        if kind == INTERIOR_TABLE:
            _rowid, pos = varint(raw, pos)
            return Cell(off, max(4, pos - off), b"", child)
        p, pos = varint(raw, pos)
        if kind == LEAF_TABLE:
            _rowid, pos = varint(raw, pos)
        local, overflow = self._local(kind, p)
        payload = raw[pos : pos + local]
        end = pos + local + (4 if overflow else 0)
        return Cell(off, max(4, end - off), payload, child)

    def roots(self) -> dict[str, int]:
        """Name -> root page of every table and index, from sqlite_schema (page 1)."""
        out = {}
        for page in self.tree(1):
            if page.kind == LEAF_TABLE:
                for cell in page.cells:
                    _type, name, _tbl, root, _sql = record(cell.payload)[:5]
                    if isinstance(root, int) and root:
                        out[str(name)] = root
        return out

    def tree(self, root: int) -> list[Page]:
        """Every page of the b-tree at root, parents before children."""
        pages, todo = [], [root]
        while todo:
            page = self.page(todo.pop(0))
            pages.append(page)
            todo += [c.child for c in page.cells if c.child]
            if page.right_child:
                todo.append(page.right_child)
        return pages


@dataclass
class Frame:
    page: int
    commit_size: int  # database size in pages after this commit; 0 if not a commit frame
    data: bytes


def layout(db: Database, number: int) -> bytes | None:
    """A page's bytes, but for page 1's counters (changes, schema cookie, version): what layout compares."""
    if number > db.page_count:
        return None
    raw = bytearray(db.raw(number))
    if number == 1:
        for start, end in ((18, 20), (24, 28), (40, 44), (92, 96)):  # journal mode, and counters
            raw[start:end] = bytes(end - start)
    return bytes(raw)


def as_rollback(data: bytes) -> bytes:
    """The same database marked for a rollback journal (header bytes 18-19), as SQLite opens it alone."""
    return data[:18] + b"\x01\x01" + data[20:]


def wal_frames(data: bytes) -> list[Frame]:
    """The frames of a write-ahead log whose salts match its header: what recovery would read."""
    if len(data) < 32:
        return []
    magic, _version, page_size, _seq, salt1, salt2 = struct.unpack(">IIIIII", data[:24])
    if magic not in WAL_MAGIC:
        raise ValueError("not a WAL file")
    frames, pos = [], 32
    while pos + 24 + page_size <= len(data):
        page, commit, s1, s2 = struct.unpack(">IIII", data[pos : pos + 16])
        if (s1, s2) != (salt1, salt2):
            break
        frames.append(Frame(page, commit, data[pos + 24 : pos + 24 + page_size]))
        pos += 24 + page_size
    return frames


def with_wal(db: bytes, wal: bytes | None) -> bytes:
    """The database as a reader sees it: the file, with the WAL's committed frames laid over it."""
    frames = wal_frames(wal) if wal else []
    last_commit = max((i for i, f in enumerate(frames) if f.commit_size), default=-1)
    if last_commit < 0:
        return db
    page_size = len(frames[0].data)
    pages = {i + 1: db[i * page_size : (i + 1) * page_size] for i in range(len(db) // page_size)}
    for f in frames[: last_commit + 1]:
        pages[f.page] = f.data
    size = frames[last_commit].commit_size
    return b"".join(pages.get(n, bytes(page_size)) for n in range(1, size + 1))

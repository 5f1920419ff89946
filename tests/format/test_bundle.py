"""The bundle reader accepts exactly the tar docs/bundle.md describes, and nothing else."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
from pathlib import Path

import pytest

from tipline.format import ustar
from tipline.format.bundle import BundleError, BundleReader, is_bundle, parse_manifest
from tipline.format.ustar import TarReader, member_header

SID = "sub_0123456789"
HOUR = "2026-11-26T15:00Z"


def manifest_doc(sids: dict[str, int]) -> dict:
    return {
        "format": "tipline-bundle",
        "version": 1,
        "created_hour": HOUR,
        "submissions": [
            {
                "id": s,
                "received_hour": HOUR,
                "sealed_by": "server",
                "envelopes": [f"{s}/{i}.envelope" for i in range(n)],
            }
            for s, n in sids.items()
        ],
    }


def member(name: str, data: bytes) -> bytes:
    return member_header(name, len(data)) + data + bytes(-len(data) % 512)


def bundle(path: Path, *members: bytes, end: bool = True) -> Path:
    path.write_bytes(b"".join(members) + (bytes(1024) if end else b""))
    return path


def manifest_member(sids: dict[str, int] | None = None) -> bytes:
    return member("manifest.json", json.dumps(manifest_doc(sids or {SID: 2})).encode())


def read_all(path: Path) -> dict[str, bytes]:
    r = BundleReader(str(path))
    try:
        return {m: r.envelope(m).read() for _e, m in r.items()}
    finally:
        r.close()


def tarfile_bundle(path: Path, extra: list[tarfile.TarInfo], fmt: int = tarfile.PAX_FORMAT) -> Path:
    with tarfile.open(path, "w", format=fmt) as t:
        data = json.dumps(manifest_doc({SID: 1})).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        for x in extra:
            t.addfile(x, io.BytesIO(b"e" * x.size) if x.isreg() else None)
    return path


# -- the writer makes the strict subset, as tarfile would -----------------------------------


@pytest.mark.parametrize("size", [0, 1, 511, 512, 10**6, 8**11 - 1, 8**11, 9 * 2**30])
def test_member_header_is_what_tarfile_writes(size):
    info = tarfile.TarInfo(f"{SID}/7.envelope")
    info.size, info.mode, info.mtime = size, 0o600, 0
    assert member_header(info.name, size) == info.tobuf(format=tarfile.PAX_FORMAT)


def test_reader_reads_what_the_writer_writes(tmp_path):
    p = bundle(
        tmp_path / "b.tar",
        manifest_member(),
        member(f"{SID}/0.envelope", b"zero"),
        member(f"{SID}/1.envelope", b"one" * 300),
    )
    assert is_bundle(str(p))
    assert read_all(p) == {f"{SID}/0.envelope": b"zero", f"{SID}/1.envelope": b"one" * 300}


def test_pax_size_and_path_records_are_honoured(tmp_path):
    # tarfile writes a pax "path" for long or non-ASCII names; the writer a
    # pax "size" above 8 GiB. Both in small, so the test need not be 8 GiB.
    record = b"10 size=5\n" + b"%d path=%s/1.envelope\n" % (len(SID) + 20, SID.encode())
    assert [len(r) for r in record.splitlines(keepends=True)][1] == len(SID) + 20
    pax = ustar._header_block(b"././@PaxHeader", len(record), b"x", 0) + record.ljust(512, b"\0")
    second = pax + ustar._header_block(b"ignored-name", 0, b"0") + b"12345".ljust(512, b"\0")
    p = bundle(tmp_path / "b.tar", manifest_member(), member(f"{SID}/0.envelope", b"zero"), second)
    assert read_all(p) == {f"{SID}/0.envelope": b"zero", f"{SID}/1.envelope": b"12345"}


def test_non_ascii_pax_path_from_tarfile(tmp_path):
    info = tarfile.TarInfo("ünïcode/" + "x" * 120)
    info.size = 3
    p = tarfile_bundle(tmp_path / "b.tar", [info])
    with open(p, "rb") as f:
        assert [m.name for m in TarReader(f).members()] == ["manifest.json", info.name]


# -- refused before anything parses it ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "pack"),
    [
        ("gzip", gzip.compress),
        ("bzip2", bz2.compress),
        ("xz", lzma.compress),
        ("zstd", lambda d: b"\x28\xb5\x2f\xfd" + d),
    ],
)
def test_compressed_bundle_refused(tmp_path, kind, pack):
    plain = bundle(tmp_path / "plain.tar", manifest_member(), member(f"{SID}/0.envelope", b"x"))
    p = tmp_path / "b.tar.z"
    p.write_bytes(pack(plain.read_bytes()))
    assert is_bundle(str(p))  # recognised, so the reader can say what is wrong
    with pytest.raises(BundleError, match=f"{kind}-compressed"):
        BundleReader(str(p))


def test_gnu_format_refused(tmp_path):
    p = tarfile_bundle(tmp_path / "b.tar", [], fmt=tarfile.GNU_FORMAT)
    with pytest.raises(BundleError, match="GNU format"):
        BundleReader(str(p))


def _info(name: str, kind: bytes, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for k, v in kw.items():
        setattr(info, k, v)
    return info


@pytest.mark.parametrize(
    "info",
    [
        _info(f"{SID}/0.envelope", tarfile.SYMTYPE, linkname="/etc/passwd"),
        _info(f"{SID}/0.envelope", tarfile.LNKTYPE, linkname="manifest.json"),
        _info(f"{SID}/0.envelope", tarfile.DIRTYPE),
        _info(f"{SID}/0.envelope", tarfile.FIFOTYPE),
        _info(f"{SID}/0.envelope", tarfile.CHRTYPE, devmajor=1, devminor=3),
        _info(f"{SID}/0.envelope", tarfile.CONTTYPE, size=3),
        _info(f"{SID}/0.envelope", tarfile.REGTYPE, size=3, pax_headers={"GNU.sparse.map": "0,3"}),
        _info(f"{SID}/0.envelope", tarfile.REGTYPE, size=3, pax_headers={"linkpath": "/etc"}),
    ],
    ids=["symlink", "hardlink", "folder", "fifo", "device", "contiguous", "gnu-sparse-pax", "linkpath"],
)
def test_members_that_are_not_plain_files_refused(tmp_path, info):
    p = tarfile_bundle(tmp_path / "b.tar", [info])
    r = BundleReader(str(p))  # the manifest came first, so the bundle opens ...
    with pytest.raises(BundleError, match=r"0\.envelope"):
        r.envelope(f"{SID}/0.envelope")  # ... and the member fails, saying why
    r.close()


def test_old_gnu_sparse_member_refused(tmp_path):
    from tests.offline.bombs import sparse_bundle

    for gnu in (True, False):
        p = sparse_bundle(tmp_path / "s.tar", b"TIPLINE" + bytes(600), gnu_magic=gnu)
        with pytest.raises(BundleError):
            read_all(p)


def test_oversized_pax_header_refused_unread(tmp_path):
    size = ustar.MAX_PAX_BYTES + 1
    pax = ustar._header_block(b"././@PaxHeader", size, b"x")
    # The pax data is not even there: the reader must refuse from the header alone.
    p = bundle(tmp_path / "b.tar", pax, end=False)
    with pytest.raises(BundleError, match="oversized pax header"):
        BundleReader(str(p))


@pytest.mark.parametrize(
    "records",
    [
        b"5 a=b\n",
        b"999 path=x\n",
        b"11 path=x\nX",
        b"6 path\n",
        b"0 path=x\n",
        b"07 path=\n",
        b"9 \xff\xfe=x\n",
    ],
)
def test_malformed_pax_records_refused(tmp_path, records):
    pax = ustar._header_block(b"././@PaxHeader", len(records), b"x") + records.ljust(512, b"\0")
    p = bundle(tmp_path / "b.tar", manifest_member(), pax + member(f"{SID}/0.envelope", b"x"))
    r = BundleReader(str(p))
    with pytest.raises(BundleError, match="does not contain"):
        r.envelope(f"{SID}/0.envelope")
    r.close()


def test_bad_checksum_stops_the_scan_there(tmp_path):
    broken = bytearray(member(f"{SID}/1.envelope", b"one"))
    broken[0] ^= 1
    p = bundle(tmp_path / "b.tar", manifest_member(), member(f"{SID}/0.envelope", b"zero"), bytes(broken))
    r = BundleReader(str(p))
    assert r.envelope(f"{SID}/0.envelope").read() == b"zero"
    with pytest.raises(BundleError, match="checksum"):
        r.envelope(f"{SID}/1.envelope")
    r.close()


# -- the manifest -------------------------------------------------------------------------


def test_manifest_must_be_the_first_member(tmp_path):
    p = bundle(tmp_path / "b.tar", member(f"{SID}/0.envelope", b"x"), manifest_member())
    with pytest.raises(BundleError, match=r"does not start with manifest\.json"):
        BundleReader(str(p))


def test_a_later_manifest_does_not_win(tmp_path):
    other = "other_0123456"
    p = bundle(
        tmp_path / "b.tar",
        manifest_member({SID: 1}),
        member(f"{SID}/0.envelope", b"x"),
        manifest_member({other: 1}),
        member(f"{other}/0.envelope", b"y"),
    )
    assert read_all(p) == {f"{SID}/0.envelope": b"x"}


@pytest.mark.parametrize(
    "version",
    [
        "true",
        "1.0",
        "1e0",
        '"1"',
        '"2"',
        "2.0",
        "3",
        "0",
        "null",
        "1" * 5000,
        "NaN",
        "Infinity",
        "-1",
        "1" * 10,
    ],
)
def test_manifest_version_must_be_the_integer_1_or_2(version):
    raw = json.dumps(manifest_doc({SID: 1})).replace('"version": 1', f'"version": {version}')
    with pytest.raises(BundleError):
        parse_manifest(raw.encode())


@pytest.mark.parametrize(
    "raw",
    [
        '{"format": "tipline-bundle", "format": "tipline-bundle", "version": 1, '
        '"created_hour": "2026-11-26T15:00Z", "submissions": []}',
        '{"format": "tipline-bundle", "version": 1, "submissions": []}',
        '{"format": "tipline-bundle", "version": 1, "created_hour": "2026-11-26T15:30Z", "submissions": []}',
        '{"format": "tipline-bundle", "version": 1, "created_hour": 5, "submissions": []}',
    ],
    ids=["repeated-key", "no-created-hour", "created-not-on-the-hour", "created-not-a-string"],
)
def test_manifest_other_defects_refused(raw):
    with pytest.raises(BundleError):
        parse_manifest(raw.encode())


def test_listed_member_twice_fails_alone(tmp_path):
    p = bundle(
        tmp_path / "b.tar",
        manifest_member({SID: 2}),
        member(f"{SID}/0.envelope", b"first"),
        member(f"{SID}/1.envelope", b"a"),
        member(f"{SID}/1.envelope", b"b"),
    )
    r = BundleReader(str(p))
    assert r.envelope(f"{SID}/0.envelope").read() == b"first"
    with pytest.raises(BundleError, match="appears twice"):
        r.envelope(f"{SID}/1.envelope")
    r.close()


def test_truncated_bundle_keeps_what_came_before(tmp_path):
    whole = bundle(
        tmp_path / "w.tar",
        manifest_member({SID: 3}),
        *(member(f"{SID}/{i}.envelope", bytes([65 + i]) * 1000) for i in range(3)),
    )
    data = whole.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: 1024 + 2 * 1536 + 512 + 100])  # inside the third member's data
    r = BundleReader(str(cut))
    assert r.envelope(f"{SID}/0.envelope").read() == b"A" * 1000
    assert r.envelope(f"{SID}/2.envelope").read() == b"C" * 100  # short: its decryption fails
    cut.write_bytes(data[: 1024 + 1536 + 512 + 500])  # inside the second member's data
    r = BundleReader(str(cut))
    with pytest.raises(BundleError, match="truncated"):
        r.envelope(f"{SID}/2.envelope")
    r.close()


def test_not_a_tar_is_not_a_bundle(tmp_path):
    for data in (b"TIPLINE\x01" + bytes(600), b"", b"x" * 512, bytes(512)):
        p = tmp_path / "f"
        p.write_bytes(data)
        assert not is_bundle(str(p))

"""Property-based fuzzing of the parsers that face hostile input (time-bounded by example counts).

The envelope parser is fuzzed in tests/format/test_roundtrip.py; here, the
bundle reader, and the upload endpoint of a real gunicorn.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.offline import bombs
from tests.web.server import make_server
from tipline.format.bundle import BundleError, BundleReader, parse_manifest
from tipline.format.errors import TiplineError
from tipline.offline.cli import main as offline_main

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@FUZZ
@given(doc=json_values)
def test_manifest_parser_refuses_or_accepts_cleanly(doc):
    try:
        entries = parse_manifest(json.dumps(doc).encode())
    except BundleError:
        return
    for e in entries:  # anything accepted is safe to use as a folder name and member names
        assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", e.id)
        assert e.envelopes == tuple(f"{e.id}/{i}.envelope" for i in range(len(e.envelopes)))


@FUZZ
@given(
    sid=st.text(max_size=70),
    names=st.lists(st.text(max_size=40), max_size=4),
    extra=st.lists(st.tuples(st.text(min_size=1, max_size=30), st.binary(max_size=200)), max_size=3),
    raw=st.binary(max_size=3000),
)
def test_bundle_reader_never_crashes(tmp_path_factory, alice, sid, names, extra, raw):
    folder = tmp_path_factory.mktemp("fz")
    manifest = {
        "format": "tipline-bundle",
        "version": 1,
        "created_hour": "2026-11-26T15:00Z",
        "submissions": [
            {"id": sid, "received_hour": "2026-11-26T15:00Z", "sealed_by": "server", "envelopes": names}
        ],
    }
    members = [("manifest.json", json.dumps(manifest).encode())] + [(n, raw) for n in names] + list(extra)
    key, pw = bombs.cheap_key(folder, alice)
    for i, blob in enumerate((_tar(members), raw, _tar(members)[: max(0, len(raw) % 2048)])):
        p = folder / f"b{i}.tar"
        p.write_bytes(blob)
        try:
            reader = BundleReader(str(p))
        except (BundleError, TiplineError):
            pass
        else:
            for _entry, member in reader.items():
                with contextlib.suppress(BundleError):
                    reader.envelope(member).read()
            reader.close()
        # docs/reliability.md, "Hostile bundles": the real decrypt refuses with
        # exit 5 (or skips the bad members), and writes nothing outside --out.
        before = _tree(folder)
        out = folder / f"out{i}"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = offline_main(
                ["decrypt", str(p), "--key", str(key), "--out", str(out), "--passphrase-file", str(pw)]
            )
        assert code in (0, 4, 5), err.getvalue()
        after = _tree(folder)
        assert {k: v for k, v in after.items() if not k.startswith(f"out{i}")} == before
        written = [folder / k for k in after if k.startswith(f"out{i}")]
        assert all(w.resolve().is_relative_to(out.resolve()) for w in written)


def _tree(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def server(tmp_path_factory, keydir):
    srv = make_server(tmp_path_factory.mktemp("fuzzsrv"), keydir / "journalist.pub").start()
    yield srv
    srv.stop()


CTYPES = st.sampled_from(
    [
        "multipart/form-data; boundary=b",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/mixed; boundary=b",
        "application/octet-stream",
        "text/plain",
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=" + "b" * 300,
    ]
)

part = st.tuples(
    st.sampled_from(["message", "files", "envelope", "csrf_token", "website", "x"]),
    st.one_of(st.none(), st.text(max_size=20)),
    st.binary(max_size=300),
    st.sampled_from(
        ["", "Content-Type: text/plain\r\n", "Content-Type: \x00\r\n", "X: " + "y" * 100 + "\r\n"]
    ),
)


def _body(parts, boundary=b"b", close=True, garbage=b""):
    out = []
    for name, filename, data, extra_header in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out.append(
            b"--"
            + boundary
            + b"\r\nContent-Disposition: "
            + disp.encode("utf-8", "replace")
            + b"\r\n"
            + extra_header.encode("latin-1", "replace")
            + b"\r\n"
            + data
            + b"\r\n"
        )
    if close:
        out.append(b"--" + boundary + b"--\r\n")
    return garbage + b"".join(out)


@FUZZ
@given(
    parts=st.lists(part, max_size=8),
    ctype=CTYPES,
    close=st.booleans(),
    garbage=st.binary(max_size=40),
    sealed=st.sampled_from(["", "?sealed=browser", "?sealed=x"]),
)
def test_upload_endpoint_answers_4xx_and_stores_nothing(server, parts, ctype, close, garbage, sealed):
    """Without a valid CSRF token nothing may be stored, whatever the body looks like."""
    before = server.submission_count()
    r = server.request(
        "POST",
        "/submit" + sealed,
        body=_body(parts, close=close, garbage=garbage),
        headers={"Content-Type": ctype},
    )
    assert 400 <= r.status < 500, r.status
    assert b"Traceback" not in r.body
    assert server.submission_count() == before
    assert list((server.data_dir / "store" / "pending").iterdir()) == []


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(part, max_size=6), close=st.booleans())
def test_upload_endpoint_with_valid_token(server, parts, close):
    """With a valid token, any body is stored whole (200: the codename page) or refused with a 4xx."""
    token = server.csrf_token()
    parts = [("csrf_token", None, token.encode(), ""), *parts]
    before = server.submission_count()
    r = server.request(
        "POST",
        "/submit",
        body=_body(parts, close=close),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status == 200 or 400 <= r.status < 500, r.status
    assert server.submission_count() == before + (1 if r.status == 200 else 0)
    assert list((server.data_dir / "store" / "pending").iterdir()) == []


@pytest.mark.parametrize("header", [("X-Big", "a" * 20_000), ("Cookie", "c=" + "z" * 20_000)])
def test_huge_headers_refused(server, header):
    r = server.request("GET", "/", headers=dict([header]))
    assert 400 <= r.status < 500


def test_many_headers_refused(server):
    import socket

    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500)) + b"\r\n")
    reply = s.recv(100)
    s.close()
    assert reply.startswith(b"HTTP/1.1 4"), reply

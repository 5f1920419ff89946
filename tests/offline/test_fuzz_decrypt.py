"""Fuzz the whole decrypt job: hostile metadata in decryptable envelopes, and mutated bundles.

Issue 9, finding 1: whatever one item holds, no exception escapes, every good
item beside it comes out byte for byte, nothing partial stays, and nothing is
written outside the output folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.offline import bombs
from tests.offline.bombs import seal_meta
from tipline.format.errors import MalformedPayload
from tipline.format.keys import SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes
from tipline.offline import cli
from tipline.offline.decrypt import DecryptJob

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
HOSTILE_CONTENT = b"hostile content \x00\xff"
# The audit's poisoned envelope: a file name that JSON-escapes a lone surrogate.
POISON = b'{"v":1,"kind":"file","name":"\\ud800.txt","type":"","length":%d}' % len(HOSTILE_CONTENT)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for folders), without following links."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        assert not p.is_symlink(), p
        out[str(p.relative_to(root))] = p.read_bytes() if p.is_file() else None
    return out


def check_output(out: Path) -> None:
    for p in out.rglob("*"):
        assert not p.name.endswith(".part"), p
        assert p.resolve().is_relative_to(out.resolve()), p
        if p.name == "items.json":
            json.loads(p.read_text("utf-8"))  # always readable, strict UTF-8 JSON


# -- (a) decryptable envelopes, hostile metadata ----------------------------------------------

hostile_chars = st.one_of(
    st.characters(),
    st.sampled_from(["/", "\\", ".", "\u202e", "\x00", ":", "\n", "\ufeff", "\U0001f600"]),
)
short_text = st.text(hostile_chars, max_size=40)
lone_surrogate = st.characters(categories=["Cs"])  # the poisoned envelope's weapon
hostile_text = st.one_of(
    short_text,
    st.builds(lambda a, s, b: a + s + b, short_text, lone_surrogate, short_text),
    st.builds(lambda a, s: a + s, short_text, lone_surrogate),
    st.text(hostile_chars, min_size=1000, max_size=1100),  # around the 1024-character limit
    st.sampled_from(["", "..", "/etc/passwd", "a" * 1024, "a" * 1025, "😀" * 1024, "nul.txt", "t" * 256]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def meta_bytes(draw) -> bytes:
    # Mostly well-formed meta with hostile text in it, which reaches every
    # check and every writer; the rest broken in one way each.
    shape = draw(st.sampled_from(["clean"] * 4 + ["defect", "not-utf8", "raw", "flipped"]))
    if shape == "raw":
        return draw(st.binary(max_size=300))
    obj: dict[str, object] = {
        "v": 1,
        "kind": draw(st.sampled_from(["file", "file", "file", "message"])),
        "name": draw(hostile_text),
        "type": draw(hostile_text),
        "length": len(HOSTILE_CONTENT),
    }
    if shape == "defect":
        key = draw(st.sampled_from([*sorted(obj), "extra"]))
        how = draw(st.sampled_from(["missing", "wrong"]))
        if key == "extra":
            obj[draw(st.text(max_size=8).filter(lambda k: k not in obj))] = draw(json_values)
        elif how == "missing":
            del obj[key]
        else:
            obj[key] = draw(json_values)
    text = json.dumps(obj, ensure_ascii=shape != "not-utf8", separators=(",", ":"))
    data = text.encode("utf-8", "surrogatepass")  # "not-utf8": raw surrogates, not UTF-8 at all
    if shape == "flipped" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    return data[:60000]


@FUZZ
@given(meta=meta_bytes())
@example(meta=POISON)
def test_hostile_metadata_never_stops_the_job(tmp_path_factory, alice, meta):
    root = tmp_path_factory.mktemp("meta")
    pub = alice.public_key
    hostile = seal_meta(HOSTILE_CONTENT, meta, pub)
    goods = {
        "good_first_01": seal_bytes(b"first good item", Metadata("file", "first.txt", ""), [pub]),
        "mixed_0000001": seal_bytes(b"good beside hostile", Metadata("file", "beside.txt", ""), [pub]),
        "good_after_01": seal_bytes(b"after the hostile", Metadata("message"), [pub]),
    }
    bundle = bombs.good_bundle(
        root / "b.tar",
        {
            "good_first_01": [goods["good_first_01"]],
            "hostile_only1": [hostile],
            "mixed_0000001": [seal_meta(HOSTILE_CONTENT, meta, pub), goods["mixed_0000001"]],
            "good_after_01": [goods["good_after_01"]],
        },
    )
    loose = root / "loose"
    loose.mkdir()
    (loose / "hostile.envelope").write_bytes(seal_meta(HOSTILE_CONTENT, meta, pub))
    (loose / "good.envelope").write_bytes(seal_bytes(b"loose good", Metadata("file", "g.bin", ""), [pub]))
    before = tree(root)
    out = root / "out"

    summary = DecryptJob(out, [alice]).run([bundle, loose])

    assert (out / "good_first_01" / "files" / "first.txt").read_bytes() == b"first good item"
    assert (out / "mixed_0000001" / "files" / "beside.txt").read_bytes() == b"good beside hostile"
    assert (out / "good_after_01" / "message.txt").read_bytes() == b"after the hostile"
    assert (out / "good" / "files" / "g.bin").read_bytes() == b"loose good"
    # The hostile item is refused by the format itself, the same way three times,
    # or accepted three times and saved like any other.
    assert len(summary.failures) in (0, 3), [f.message for f in summary.failures]
    for f in summary.failures:
        assert type(f.error) is MalformedPayload, f.message
    assert summary.decrypted == 7 - len(summary.failures)
    check_output(out)
    for sub in ("hostile_only1", "mixed_0000001", "hostile"):
        record = out / sub / "items.json"
        if not summary.failures:
            items = json.loads(record.read_text("utf-8"))["items"].values()
            hostile_items = [i for i in items if i["length"] == len(HOSTILE_CONTENT)]
            assert [(out / sub / i["saved_as"]).read_bytes() for i in hostile_items] == [HOSTILE_CONTENT]
    after = tree(root)
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before  # nothing else touched


# -- (b) mutated bundles, through the real command line ---------------------------------------

ITEMS = {
    "first_sub_001": [(b"one " * 3000, "one.txt"), (b"two", "two.txt")],
    "second_sub_01": [(bytes(range(256)) * 300, "three.bin")],
    "third_sub_001": [(b"four", "four.txt"), (b"five" * 20000, "five.txt")],
}


def _layout(items: dict[str, list[bytes]], manifest_size: int) -> list[tuple[str, str, int, int]]:
    """(submission, file name, data start, data end) of each envelope member in the bundle."""
    pos = 512 + manifest_size + (-manifest_size % 512)
    spans = []
    for sid, envs in items.items():
        for env, (_content, name) in zip(envs, ITEMS[sid], strict=True):
            spans.append((sid, name, pos + 512, pos + 512 + len(env)))
            pos += 512 + len(env) + (-len(env) % 512)
    return spans


_cache: dict[str, object] = {}


def _base(alice: SecretKey) -> tuple[bytes, list[tuple[str, str, int, int]]]:
    """The bundle every example mutates (sealed once), and where its envelopes lie."""
    if "bundle" not in _cache:
        pub = alice.public_key
        envs = {s: [seal_bytes(c, Metadata("file", n, ""), [pub]) for c, n in v] for s, v in ITEMS.items()}
        with tempfile.TemporaryDirectory() as d:
            data = bombs.good_bundle(Path(d) / "b.tar", envs).read_bytes()
        _cache["bundle"] = (data, _layout(envs, int(data[124:135], 8)))
    return _cache["bundle"]  # type: ignore[return-value]


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**7), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**7), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**7), st.integers(1, 700)),
    st.tuples(st.just("block"), st.integers(0, 10**7), st.integers(0, 255)),
)
END = 1 << 62  # "to the end": a truncation or an insertion moves everything after it


@FUZZ
@given(mutations=st.lists(mutation, min_size=1, max_size=3), noise=st.binary(min_size=700, max_size=700))
def test_mutated_bundle_exit_code_and_nothing_outside(tmp_path_factory, alice, mutations, noise):
    data, spans = _base(alice)
    touched: list[tuple[int, int]] = []  # [a, b) ranges of the original that changed or moved
    blob = bytearray(data)
    for kind, where, arg in mutations:
        i = where % (len(blob) + 1)
        if kind == "flip" and i < len(blob):
            blob[i] ^= arg
            touched.append((i, i + 1))
        elif kind == "truncate":
            del blob[i:]
            touched.append((i, END))
        elif kind == "insert":
            blob[i:i] = noise[:arg]
            touched.append((i, END))
        elif kind == "block":
            start = (i // 512) * 512
            blob[start : start + 512] = bytes([arg]) * 512
            touched.append((start, start + 512))
    root = tmp_path_factory.mktemp("bundle")
    key, pw = bombs.cheap_key(root, alice)
    (root / "b.tar").write_bytes(bytes(blob))
    before = tree(root)
    out = root / "out"

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = cli.main(["decrypt", str(root / "b.tar"), "--key", str(key), "--out", str(out),
                         "--passphrase-file", str(pw)])  # fmt: skip

    # docs/reliability.md: refused with exit 5 (4 if a key id was hit), or the bad members skipped.
    assert code in (0, 4, 5), err.getvalue()
    assert "Traceback" not in err.getvalue()
    contents = {(s, n): c for s, v in ITEMS.items() for c, n in v}
    # Whatever came out is exactly an original item: never a damaged or partial one.
    for p in out.rglob("*"):
        if p.is_file() and p.name != "items.json":
            sid, _files, name = p.relative_to(out).parts
            assert p.read_bytes() == contents[(sid, name)], p
    check_output(out)
    after = tree(root)
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before  # nothing written outside

    # An item comes out when the manifest and the item are untouched, and all
    # damage before it lies inside other envelopes' data (which the reader
    # skips by size). When nothing up to the last envelope was touched: exit 0.
    manifest_end = 512 + int(data[124:135], 8)
    for sid, name, start, end in spans:
        earlier_data = [(s, e) for _x, _y, s, e in spans if e <= start - 512]
        fine = all(
            a >= end or (a >= manifest_end and any(s <= a and b <= e for s, e in earlier_data))
            for a, b in touched
        )
        if fine:
            assert (out / sid / "files" / name).read_bytes() == contents[(sid, name)], (sid, name)
    if all(a >= spans[-1][3] for a, _b in touched):
        assert code == 0, err.getvalue()
    else:
        assert code != 0 or all((out / s / "files" / n).exists() for s, n, _a, _b in spans)


# -- (c) version 2 manifests: hostile conversations, replies and keys -------------------------

CID, TIP, REPLY = "conv_0123456789", "tip_0123456789", "reply_012345678"
ids = st.one_of(
    st.sampled_from([CID, TIP, REPLY, "other_0123456", "../../../etc", "replies", "a" * 65, ""]),
    st.text(hostile_chars, max_size=70),
)
hours = st.sampled_from(
    ["2026-11-26T15:00Z", "2026-11-26T15:30Z", "9999-99-99T99:00Z", "", "2026-11-26T15:00"]
)
keys_hex = st.one_of(st.sampled_from(["ab" * 32, "AB" * 32, "ab" * 31, "ab" * 33, ""]), st.text(max_size=70))
field_values = st.one_of(ids, hours, keys_hex, json_values, st.booleans())


@st.composite
def v2_manifests(draw, good: dict) -> dict:
    """The good v2 manifest with a few fields replaced, removed or added, anywhere in it."""
    doc = json.loads(json.dumps(good))
    paths = [(), ("submissions", 0), ("conversations", 0), ("conversations", 0, "replies", 0)]
    for _ in range(draw(st.integers(0, 3))):
        target = doc
        for step in draw(st.sampled_from(paths)):
            try:
                target = target[step]
            except (KeyError, IndexError, TypeError):
                break
        if not isinstance(target, dict):
            continue  # an earlier change already broke the way there
        key = draw(st.sampled_from([*sorted(target), "extra"]))
        if draw(st.booleans()) and key in target:
            del target[key]
        else:
            target[key] = draw(field_values)
    return doc


def _v2_bundle(path: Path, doc: dict, members: dict[str, bytes]) -> Path:
    from tipline.format.ustar import member_header

    listed = [("manifest.json", json.dumps(doc).encode()), *members.items()]
    path.write_bytes(
        b"".join(member_header(n, len(d)) + d + bytes(-len(d) % 512) for n, d in listed) + bytes(1024)
    )
    return path


@FUZZ
@given(data=st.data(), meta=meta_bytes())
def test_hostile_v2_manifest_or_reply_never_escapes(tmp_path_factory, alice, data, meta):
    from tipline.offline.conversation import check_record

    root = tmp_path_factory.mktemp("v2")
    pub = alice.public_key
    members = {
        f"{TIP}/0.envelope": seal_bytes(b"the tip \x1b[2J", Metadata("message"), [pub]),
        f"replies/{REPLY}.envelope": seal_meta(HOSTILE_CONTENT, meta, pub),  # hostile metadata in a reply
    }
    good = {
        "format": "tipline-bundle",
        "version": 2,
        "created_hour": "2026-11-27T00:00Z",
        "newsroom_keys": [pub.raw.hex()],
        "submissions": [{"id": TIP, "received_hour": "2026-11-26T15:00Z", "sealed_by": "browser",
                         "envelopes": [f"{TIP}/0.envelope"], "conversation": CID}],
        "conversations": [{"id": CID, "source_public_key": "cd" * 32, "replies": [
            {"id": REPLY, "hour": "2026-11-26T16:00Z", "journalist": "ana", "sealed_by": "offline",
             "deleted_by_source": False, "envelope": f"replies/{REPLY}.envelope"}]}],
    }  # fmt: skip
    doc = data.draw(v2_manifests(good))
    bundle = _v2_bundle(root / "b.tar", doc, members)
    key, pw = bombs.cheap_key(root, alice)
    before = tree(root)
    out = root / "out"

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = cli.main(
            ["decrypt", str(bundle), "--key", str(key), "--out", str(out), "--passphrase-file", str(pw)]
        )

    assert code in (0, 5), err.getvalue()
    assert "Traceback" not in err.getvalue()
    check_output(out)
    after = tree(root)
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before  # nothing written outside
    for record in out.rglob("conversation.json"):
        check_record(json.loads(record.read_text("utf-8")), record)
    for thread in out.rglob("thread.txt"):
        text = thread.read_text("utf-8")
        assert not [c for c in text if c not in "\n\t" and (ord(c) < 32 or 0x7F <= ord(c) < 0xA0)], text
    if doc == good:
        tip = out / f"conversation-{CID}" / f"2026-11-26T1500Z-source-{TIP}" / "message.txt"
        assert tip.read_bytes() == b"the tip \x1b[2J"  # kept byte for byte; only thread.txt is cleaned

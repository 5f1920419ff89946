"""The committed bundles (tests/vectors/bundle/) decrypt with the real tool; hostile v2 manifests are refused.

v1.tar was written as Tipline wrote bundles before conversations: it must
keep decrypting. Each hostile manifest is the committed v2 manifest with one
field broken; the reader refuses it with a clear error and the real
`tipline-offline decrypt` exits 5 having written nothing.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import pytest

from tests.conftest import run_offline
from tests.offline.bombs import cheap_key
from tipline.format.bundle import BundleError, BundleReader, read_manifest
from tipline.format.keys import SecretKey
from tipline.format.ustar import TarReader, member_header
from tipline.offline import cli

VECTORS = Path(__file__).parent.parent / "vectors" / "bundle"
EXPECT = json.loads((VECTORS / "expect.json").read_text("utf-8"))
DERIVED = {"items.json", "conversation.json", "thread.txt"}


def key_files(folder: Path, case: dict) -> tuple[Path, Path]:
    return cheap_key(folder, SecretKey(bytes.fromhex(case["secret_key"])))


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_committed_bundle_decrypts_with_the_real_tool(tmp_path, name):
    case = EXPECT[name]
    key, pw = key_files(tmp_path, case)
    out = tmp_path / "out"
    r = run_offline("decrypt", str(VECTORS / case["bundle"]), "--key", str(key), "--out", str(out),
                    "--passphrase-file", str(pw))  # fmt: skip
    assert r.returncode == 0, r.stderr
    written = {
        str(p.relative_to(out)): p.read_text("utf-8")
        for p in out.rglob("*")
        if p.is_file() and p.name not in DERIVED
    }
    assert written == case["files"]
    if name == "v2":
        (folder,) = out.glob("conversation-*")
        record = json.loads((folder / "conversation.json").read_text())
        assert record["source_public_key"] == case["source_public_key"]
        assert record["newsroom_keys"] == [SecretKey(bytes.fromhex(case["secret_key"])).public_key.raw.hex()]
        thread = (folder / "thread.txt").read_text()
        assert "· Newsroom (bob) ---\n\n(The source deleted this reply" in thread
        assert thread.index("The first tip.") < thread.index("A question") < thread.index("A follow-up.")


# -- hostile version 2 manifests ---------------------------------------------------------------


def committed_v2() -> tuple[dict, list[tuple[str, bytes]]]:
    with open(VECTORS / "v2.tar", "rb") as f:
        members = []
        for m in TarReader(f).members():
            here = f.tell()
            f.seek(m.offset)
            members.append((m.name, f.read(m.size)))
            f.seek(here)
    return json.loads(members[0][1]), members[1:]


def _conv(doc: dict) -> dict:
    return doc["conversations"][0]


def _reply(doc: dict, i: int = 0) -> dict:
    return _conv(doc)["replies"][i]


def _set(path, value):
    def change(doc):
        *where, last = path
        target = doc
        for step in where:
            target = target[step]
        target[last] = value

    return change


HOSTILE = {
    "version-3": (_set(["version"], 3), "version 3"),
    "no-conversation-list": (lambda d: d.pop("conversations"), "no conversation list"),
    "submission-without-conversation-key": (
        lambda d: d["submissions"][0].pop("conversation"),
        "does not say",
    ),
    "conversation-id-path": (
        _set(["submissions", 0, "conversation"], "../../etc"),
        "invalid conversation id",
    ),
    "conversation-not-listed": (_set(["submissions", 0, "conversation"], "nowhere_12345"), "not listed"),
    "conversation-unreferenced": (
        lambda d: d["conversations"].append({**copy.deepcopy(_conv(d)), "id": "lonely_12345", "replies": []}),
        "without any of its submissions",
    ),
    "conversation-twice": (
        lambda d: d["conversations"].append(copy.deepcopy(_conv(d))),
        "invalid or repeated",
    ),
    "source-key-short": (lambda d: _conv(d).update(source_public_key="ab" * 31), "32 bytes"),
    "source-key-upper": (lambda d: _conv(d).update(source_public_key="AB" * 32), "lower-case hex"),
    "source-key-number": (lambda d: _conv(d).update(source_public_key=7), "not a public key"),
    "replies-not-a-list": (lambda d: _conv(d).update(replies={}), "no reply list"),
    "reply-id-path": (lambda d: _reply(d).update(id="../../../x"), "invalid or repeated"),
    "reply-twice": (lambda d: _conv(d)["replies"].append(copy.deepcopy(_reply(d))), "invalid or repeated"),
    "reply-hour-minutes": (lambda d: _reply(d).update(hour="2026-11-26T18:30Z"), "invalid time"),
    "reply-sealed-by-robot": (lambda d: _reply(d).update(sealed_by="robot"), "sealing mark"),
    "journalist-path": (lambda d: _reply(d).update(journalist="../evil"), "no account name"),
    "journalist-empty": (lambda d: _reply(d).update(journalist=""), "no account name"),
    "journalist-control": (lambda d: _reply(d).update(journalist="ana\x1b[31m"), "no account name"),
    "deleted-as-integer": (lambda d: _reply(d).update(deleted_by_source=0), "whether the source deleted"),
    "deleted-as-string": (
        lambda d: _reply(d).update(deleted_by_source="false"),
        "whether the source deleted",
    ),
    "reply-without-envelope-key": (lambda d: _reply(d).pop("envelope"), "where it is"),
    "reply-envelope-elsewhere": (
        lambda d: _reply(d).update(envelope="replies/rep_Hh7Ii8Jj9Kk0Ll1Mm2N.envelope"),
        "breaks the bundle rules",
    ),
    "reply-envelope-path": (
        lambda d: _reply(d).update(envelope="../manifest.json"),
        "breaks the bundle rules",
    ),
    "reply-envelope-missing": (lambda d: _reply(d).update(envelope=None), "breaks the bundle rules"),
    "deleted-reply-with-envelope": (
        lambda d: _reply(d, 1).update(envelope="replies/rep_Hh7Ii8Jj9Kk0Ll1Mm2N.envelope"),
        "breaks the bundle rules",
    ),
    "newsroom-keys-missing": (lambda d: d.pop("newsroom_keys"), "newsroom keys"),
    "newsroom-keys-33": (_set(["newsroom_keys"], [f"{i:064x}" for i in range(33)]), "at most 32"),
    "newsroom-key-twice": (lambda d: d["newsroom_keys"].append(d["newsroom_keys"][0]), "twice"),
    "newsroom-key-short": (_set(["newsroom_keys"], ["00" * 33]), "32 bytes"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_v2_manifest_refused_with_a_clear_error(tmp_path, case):
    doc, members = committed_v2()
    change, says = HOSTILE[case]
    change(doc)
    raw = json.dumps(doc).encode()
    with pytest.raises(BundleError, match=says.replace("(", r"\(")):
        read_manifest(raw)

    tar = b"".join(
        member_header(n, len(d)) + d + bytes(-len(d) % 512) for n, d in [("manifest.json", raw), *members]
    )
    (tmp_path / "b.tar").write_bytes(tar + bytes(1024))
    key, pw = key_files(tmp_path, EXPECT["v2"])
    out = tmp_path / "out"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = cli.main(["decrypt", str(tmp_path / "b.tar"), "--key", str(key), "--out", str(out),
                         "--passphrase-file", str(pw)])  # fmt: skip
    assert code == 5, err.getvalue()
    assert "b.tar: " in err.getvalue() and "Traceback" not in err.getvalue()
    assert [p for p in out.rglob("*")] == []  # refused before anything was written


def test_unmutated_committed_manifest_is_accepted():
    doc, _members = committed_v2()
    m = read_manifest(json.dumps(doc).encode())
    assert [r.deleted_by_source for r in m.conversations[0].replies] == [False, True]
    reader = BundleReader(str(VECTORS / "v2.tar"))
    try:
        assert [name for _e, name in reader.items()][-1].startswith("replies/")
    finally:
        reader.close()

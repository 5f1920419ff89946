"""Make the committed bundles: one of version 1 and one of version 2 (docs/bundle.md).

Run from the repository root: python tests/vectors/bundle/make_bundles.py
The committed files are the reference: they prove that bundles written by
earlier versions of Tipline still decrypt. Regenerating gives other bytes
(libsodium draws the stream header itself) with the same meaning, so only
run it to add a bundle, never to "refresh" one that is committed.

expect.json says, for each bundle, which key opens it and exactly which
files `tipline-offline decrypt` must write, with their contents.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from make_vectors import fixed_key, seal  # noqa: E402

from tipline.format.bundle import (  # noqa: E402
    ConversationEntry,
    ReplyEntry,
    SubmissionEntry,
    envelope_member,
    iter_bundle,
    reply_member,
)
from tipline.format.payload import Metadata  # noqa: E402
from tipline.format.ustar import member_header  # noqa: E402

MESSAGE = Metadata("message", "", "text/plain; charset=utf-8")
JOURNALIST, SOURCE = fixed_key(1), fixed_key(9)


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    return b"".join(member_header(n, len(d)) + d + bytes(-len(d) % 512) for n, d in members) + bytes(1024)


def v1() -> tuple[bytes, dict[str, str]]:
    """As Tipline wrote bundles before conversations: version 1, hand-built."""
    sid = "v1sub_9A8b7C6d5E4f3G"
    envs = [
        seal(b"A version 1 tip.\n", MESSAGE, [JOURNALIST.public_key], "v1-0"),
        seal(b"old attachment", Metadata("file", "old.txt", "text/plain"), [JOURNALIST.public_key], "v1-1"),
    ]
    manifest = {
        "format": "tipline-bundle",
        "version": 1,
        "created_hour": "2026-11-26T16:00Z",
        "submissions": [
            {
                "id": sid,
                "received_hour": "2026-11-26T15:00Z",
                "sealed_by": "server",
                "envelopes": [envelope_member(sid, i) for i in range(2)],
            }
        ],
    }
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    tar = _tar([("manifest.json", data), *((envelope_member(sid, i), e) for i, e in enumerate(envs))])
    return tar, {f"{sid}/message.txt": "A version 1 tip.\n", f"{sid}/files/old.txt": "old attachment"}


def v2() -> tuple[bytes, dict[str, str]]:
    """A conversation of a tip and a follow-up, a reply, a deleted reply; and a plain tip."""
    cid, tip, follow, plain = (
        "conv_Qw3rTy7uIoP1aS2dF",
        "tip_Zx9cV8bN7mL6kJ5hG4",
        "fol_Pq1wE2rT3yU4iO5pA6",
        "pln_Mn0bV9cX8zL7kJ6hG5",
    )
    rid, gone = "rep_Aa1Bb2Cc3Dd4Ee5Ff6G", "rep_Hh7Ii8Jj9Kk0Ll1Mm2N"
    to_newsroom = [JOURNALIST.public_key]
    members = {
        envelope_member(tip, 0): seal(b"The first tip.\n", MESSAGE, to_newsroom, "v2-tip"),
        envelope_member(follow, 0): seal(b"A follow-up.\n", MESSAGE, to_newsroom, "v2-fol"),
        envelope_member(plain, 0): seal(b"No conversation.\n", MESSAGE, to_newsroom, "v2-pln"),
        reply_member(rid): seal(
            b"A question from the newsroom.\n", MESSAGE, [SOURCE.public_key, *to_newsroom], "v2-rep"
        ),
    }
    entries = [
        SubmissionEntry(tip, "2026-11-26T15:00Z", "browser", (envelope_member(tip, 0),), cid),
        SubmissionEntry(follow, "2026-11-27T09:00Z", "server", (envelope_member(follow, 0),), cid),
        SubmissionEntry(plain, "2026-11-26T12:00Z", "server", (envelope_member(plain, 0),), None),
    ]
    replies = (
        ReplyEntry(rid, "2026-11-26T18:00Z", "ana", "offline", False, reply_member(rid)),
        ReplyEntry(gone, "2026-11-27T10:00Z", "bob", "browser", True, None),
    )
    conv = ConversationEntry(cid, SOURCE.public_key.raw, replies)
    tar = b"".join(
        iter_bundle(
            entries,
            "2026-11-28T08:00Z",
            lambda m: (io.BytesIO(members[m]), len(members[m])),
            conversations=[conv],
            newsroom_keys=[JOURNALIST.public_key.raw],
        )
    )
    folder = f"conversation-{cid}"
    return tar, {
        f"{plain}/message.txt": "No conversation.\n",
        f"{folder}/2026-11-26T1500Z-source-{tip}/message.txt": "The first tip.\n",
        f"{folder}/2026-11-26T1800Z-newsroom-{rid}/message.txt": "A question from the newsroom.\n",
        f"{folder}/2026-11-27T0900Z-source-{follow}/message.txt": "A follow-up.\n",
    }


def main() -> None:
    expect = {}
    for name, make in (("v1", v1), ("v2", v2)):
        path = HERE / f"{name}.tar"
        tar, files = make()
        if not path.exists():
            path.write_bytes(tar)
        expect[name] = {"bundle": f"{name}.tar", "secret_key": JOURNALIST.raw.hex(), "files": files}
    expect["v2"]["source_public_key"] = SOURCE.public_key.raw.hex()
    expect["v2"]["source_secret_key"] = SOURCE.raw.hex()  # a test key: opens replies sealed to the source
    (HERE / "expect.json").write_text(json.dumps(expect, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

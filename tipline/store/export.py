"""Export bundles (docs/bundle.md) of stored submissions: to a file, or as a stream.

A bundle is version 2: beside the chosen submissions it carries their
conversations, with every reply of each (the envelopes of those the source
has not deleted) and the newsroom's active keys, which `tipline-offline
reply` seals to.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from tipline.format.bundle import (
    ConversationEntry,
    ReplyEntry,
    SubmissionEntry,
    envelope_member,
    iter_bundle,
    reply_member,
)
from tipline.format.keys import PublicKey

from .conversations import ConversationStore
from .filetimes import open_quietly
from .keyring import Keyring
from .submissions import SubmissionInfo, SubmissionStore, current_hour


def default_keys(store: SubmissionStore) -> list[PublicKey]:
    """The active keys of the installation this store belongs to.

    Settings put the store at DATA_DIR/store and the keys at DATA_DIR/keys
    (tipline/config.py), so the journalist app's download, which passes only
    the store, still carries the newsroom's keys.
    """
    return Keyring(store.root.parent / "keys").active()


def _conversations(store: SubmissionStore, subs: list[SubmissionInfo]) -> list[ConversationEntry]:
    convs = ConversationStore(store)
    out: list[ConversationEntry] = []
    seen: set[str] = set()
    for s in subs:
        cid = s.conversation_id
        if cid is None or cid in seen:
            continue
        seen.add(cid)
        info = convs.get(cid)
        if info is None:  # deleted since the submissions were listed: they went with it
            continue
        replies = tuple(
            ReplyEntry(
                e.id,
                e.hour,
                e.journalist or "",
                e.sealed_by,  # type: ignore[arg-type]
                e.deleted_by_source,
                None if e.deleted_by_source else reply_member(e.id),
            )
            for e in convs.thread(cid)
            if e.kind == "reply"
        )
        out.append(ConversationEntry(cid, info.source_public_key.raw, replies))
    return out


def iter_export(
    store: SubmissionStore,
    subs: Iterable[SubmissionInfo],
    newsroom_keys: Sequence[PublicKey] | None = None,
) -> Iterator[bytes]:
    """The bytes of a bundle of these submissions, their conversations and replies, piece by piece."""
    chosen = list(subs)
    convs = _conversations(store, chosen)
    listed = {c.id for c in convs}
    entries = [
        SubmissionEntry(
            s.id,
            s.received_hour,
            s.sealed_by,  # type: ignore[arg-type]
            tuple(envelope_member(s.id, i) for i in range(s.item_count)),
            s.conversation_id if s.conversation_id in listed else None,
        )
        for s in chosen
    ]
    keys = default_keys(store) if newsroom_keys is None else list(newsroom_keys)

    def open_member(member: str) -> tuple[IO[bytes], int]:
        folder, name = member.split("/")
        if folder == "replies":
            path = store.replies / name.removesuffix(".envelope") / "reply.envelope"
        else:
            path = store.done / folder / name
        f = os.fdopen(open_quietly(path), "rb")  # iter_bundle closes it; no atime
        return f, os.fstat(f.fileno()).st_size

    return iter_bundle(
        entries,
        current_hour()[0],
        open_member,
        conversations=convs,
        newsroom_keys=[k.raw for k in keys],
    )


def export_to_file(
    store: SubmissionStore,
    path: Path,
    since: str | None = None,
    newsroom_keys: Sequence[PublicKey] | None = None,
) -> tuple[int, int]:
    """Write a bundle file (never overwriting). Returns (submissions, envelopes of submissions)."""
    subs = [s for s in store.list() if since is None or s.received_hour >= since]
    tmp = path.with_name(f".{path.name}.part")
    try:
        with open(tmp, "xb") as f:
            for piece in iter_export(store, subs, newsroom_keys):
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(subs), sum(s.item_count for s in subs)

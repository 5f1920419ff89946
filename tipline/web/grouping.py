"""The journalists' list: submissions grouped into their conversations, newest activity first."""

from __future__ import annotations

from dataclasses import dataclass

from tipline.store.conversations import ConversationInfo, ConversationStore, Entry
from tipline.store.submissions import SubmissionInfo, SubmissionStore


@dataclass(frozen=True)
class Group:
    """One entry of the list: a conversation with its items, or a submission from before conversations."""

    conversation: ConversationInfo | None
    hour: str  # its newest activity
    items: list[tuple[str, SubmissionInfo | Entry]]  # ("submission", info) or ("reply", entry), by hour


def groups(store: SubmissionStore) -> list[Group]:
    """Every conversation and every lone submission, newest activity first; each thread by hour."""
    convs = ConversationStore(store)
    subs = store.list()
    out: list[Group] = []
    for conv in convs.list():
        mine = {s.id: s for s in subs if s.conversation_id == conv.id}
        items: list[tuple[str, SubmissionInfo | Entry]] = [
            ("reply", e) if e.kind == "reply" else ("submission", mine[e.id])
            for e in convs.thread(conv.id)
            if e.kind == "reply" or e.id in mine
        ]
        out.append(Group(conv, conv.last_activity_hour, items))
    out += [Group(None, s.received_hour, [("submission", s)]) for s in subs if s.conversation_id is None]
    # Stable: within an hour, conversations keep the store's order (by random id), then lone tips theirs.
    return sorted(out, key=lambda grp: grp.hour, reverse=True)

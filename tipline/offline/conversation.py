"""A conversation's folder on the offline machine, and its conversation.json (docs/offline.md).

decrypt makes one folder per conversation a bundle carries, and keeps in
conversation.json what `reply` needs (the conversation id, the source's key,
the newsroom's keys) and the list of the conversation's items with their
hours, from which thread.txt is written. Each item has a folder of its own,
named so that a listing sorts by hour. Later bundles add to the record and
never rename or remove anything it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

from tipline.format.errors import TiplineError
from tipline.format.header import MAX_RECIPIENTS
from tipline.format.manifest import (
    HOUR,
    JOURNALIST,
    KEY_HEX,
    SUBMISSION_ID,
    BundleError,
    ConversationEntry,
    SubmissionEntry,
)

from .files import json_bytes, replace_file

CONVERSATION_FILE = "conversation.json"
THREAD_FILE = "thread.txt"
FOLDER_PREFIX = "conversation-"
RECORD_FORMAT = "tipline-conversation"
RECORD_VERSION = 1


class NotAConversation(TiplineError):
    """A folder's conversation.json is missing, damaged, or not what decrypt writes."""


def folder_name(conversation_id: str) -> str:
    return f"{FOLDER_PREFIX}{conversation_id}"


def item_folder(kind: str, item_id: str, hour: str) -> str:
    """'2026-11-26T15:00Z' -> '2026-11-26T1500Z-source-<id>': sorts by hour, and no colon (FAT, Windows)."""
    who = "source" if kind == "submission" else "newsroom"
    return f"{hour[:13]}{hour[14:16]}Z-{who}-{item_id}"


def _bad(where: Path, why: str) -> NotAConversation:
    return NotAConversation(f"{where} is not a conversation record that decrypt wrote ({why}).")


def check_record(doc: object, where: Path) -> dict:
    """The record, checked field by field; NotAConversation if anything is off."""
    if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
        raise _bad(where, "not a tipline-conversation file")
    if type(doc.get("version")) is not int or doc["version"] != RECORD_VERSION:
        raise _bad(where, "an unknown version")
    cid, key, keys = doc.get("conversation"), doc.get("source_public_key"), doc.get("newsroom_keys")
    if not isinstance(cid, str) or not SUBMISSION_ID.match(cid):
        raise _bad(where, "no valid conversation id")
    if not isinstance(key, str) or not KEY_HEX.match(key):
        raise _bad(where, "no valid source key")
    if (
        not isinstance(keys, list)
        or len(keys) > MAX_RECIPIENTS
        or not all(isinstance(k, str) and KEY_HEX.match(k) for k in keys)
        or len(set(keys)) != len(keys)
    ):
        raise _bad(where, "no valid list of newsroom keys")
    readers = doc.get("reader_keys", [])
    if (
        not isinstance(readers, list)
        or len(readers) > MAX_RECIPIENTS
        or not all(isinstance(k, str) and KEY_HEX.match(k) for k in readers)
        or len(set(readers)) != len(readers)
    ):
        raise _bad(where, "no valid list of the keys it was decrypted with")
    hour = doc.get("newsroom_keys_hour")
    if not isinstance(hour, str) or not HOUR.match(hour):
        raise _bad(where, "no valid hour for the newsroom keys")
    items = doc.get("items")
    if not isinstance(items, list):
        raise _bad(where, "no item list")
    for i in items:
        if not (
            isinstance(i, dict)
            and i.get("kind") in ("submission", "reply")
            and isinstance(i.get("id"), str)
            and SUBMISSION_ID.match(i["id"])
            and isinstance(i.get("hour"), str)
            and HOUR.match(i["hour"])
            and i.get("folder") == item_folder(i["kind"], i["id"], i["hour"])
            and isinstance(i.get("sealed_by"), str)
            and (
                i["kind"] == "submission"
                or (
                    isinstance(i.get("journalist"), str)
                    and JOURNALIST.match(i["journalist"])
                    and type(i.get("deleted_by_source")) is bool
                )
            )
        ):
            raise _bad(where, "an item that is not as decrypt writes it")
    return doc


def load(folder: Path) -> dict | None:
    """The folder's record, or None if the folder has none yet."""
    path = folder / CONVERSATION_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotAConversation(f"{path} is damaged; move it aside and run decrypt again.") from None
    return check_record(doc, path)


def merge(
    record: dict | None,
    conv: ConversationEntry,
    subs: list[SubmissionEntry],
    created_hour: str,
    newsroom_keys: tuple[bytes, ...],
    reader_keys: tuple[bytes, ...] = (),
) -> dict:
    """The record with what this bundle adds. Never renames or drops an item already known.

    reader_keys are the public keys of the secret keys this run decrypts
    with: the journalist's own, which `reply` seals to whatever the bundle
    says, since the bundle's newsroom keys come from the server.

    A source key that differs from the recorded one is refused: a conversation
    keeps its key for life, so only a tampered bundle could say otherwise.
    """
    key = conv.source_public_key.hex()
    if record is None:
        record = {
            "format": RECORD_FORMAT,
            "version": RECORD_VERSION,
            "conversation": conv.id,
            "source_public_key": key,
            "newsroom_keys": [],
            "newsroom_keys_hour": created_hour,
            "items": [],
        }
    elif record["conversation"] != conv.id:
        raise BundleError(f"The folder of conversation {conv.id} holds the record of another one.")
    elif record["source_public_key"] != key:
        raise BundleError(
            f"The bundle gives conversation {conv.id} another source key than the one its folder "
            "records. Nothing of that conversation was taken from this bundle: it may have been "
            "tampered with on the server. Ask for a fresh export, and tell your admin."
        )
    if created_hour >= record["newsroom_keys_hour"]:  # the newest bundle knows the keys now active
        record["newsroom_keys"] = [k.hex() for k in newsroom_keys]
        record["newsroom_keys_hour"] = created_hour
    readers = record.setdefault("reader_keys", [])
    readers += [k.hex() for k in reader_keys if k.hex() not in readers][: MAX_RECIPIENTS - len(readers)]
    known = {(i["kind"], i["id"]): i for i in record["items"]}
    for s in subs:
        if ("submission", s.id) not in known:
            known[("submission", s.id)] = {
                "kind": "submission",
                "id": s.id,
                "hour": s.received_hour,
                "sealed_by": s.sealed_by,
                "folder": item_folder("submission", s.id, s.received_hour),
            }
    for r in conv.replies:
        old = known.get(("reply", r.id))
        if old is not None:
            old["deleted_by_source"] = old["deleted_by_source"] or r.deleted_by_source  # never undone
            continue
        known[("reply", r.id)] = {
            "kind": "reply",
            "id": r.id,
            "hour": r.hour,
            "sealed_by": r.sealed_by,
            "journalist": r.journalist,
            "deleted_by_source": r.deleted_by_source,
            "folder": item_folder("reply", r.id, r.hour),
        }
    record["items"] = sorted(known.values(), key=lambda i: (i["hour"], i["id"]))
    return record


def save(folder: Path, record: dict) -> None:
    replace_file(folder, CONVERSATION_FILE, json_bytes(record), "conversation")

"""A bundle's manifest.json, versions 1 and 2 (docs/bundle.md): strict parsing, and writing v2.

The server that wrote a bundle may be in an attacker's hands, so every field
is checked before anything uses it: ids become folder names, member names
are looked up in the tar, keys are sealed to. Version 1 is still read;
version 2 adds conversations, their replies and the newsroom's keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from .errors import TiplineError
from .header import MAX_RECIPIENTS

BUNDLE_FORMAT = "tipline-bundle"
BUNDLE_VERSION = 2
READ_VERSIONS = (1, 2)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_ENVELOPES_PER_SUBMISSION = 1000
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # also conversation and reply ids
HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:00Z$")
KEY_HEX = re.compile(r"^[0-9a-f]{64}$")
JOURNALIST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_NUMBER_CHARS = 9  # the only number in a manifest is its version
REPLIES_DIR = "replies"  # 7 characters: never a submission id, which has 8 or more


class BundleError(TiplineError):
    """The bundle's tar structure or manifest is not what docs/bundle.md says."""


SealedBy = Literal["browser", "server"]
ReplySealedBy = Literal["browser", "server", "offline"]


@dataclass(frozen=True)
class SubmissionEntry:
    id: str
    received_hour: str
    sealed_by: SealedBy
    envelopes: tuple[str, ...]
    conversation: str | None = None  # None: from before conversations, or a v1 bundle


@dataclass(frozen=True)
class ReplyEntry:
    id: str
    hour: str
    journalist: str
    sealed_by: ReplySealedBy
    deleted_by_source: bool
    envelope: str | None  # None exactly when the source deleted it: its file is gone


@dataclass(frozen=True)
class ConversationEntry:
    id: str
    source_public_key: bytes
    replies: tuple[ReplyEntry, ...] = ()


@dataclass(frozen=True)
class Manifest:
    version: int
    created_hour: str
    submissions: tuple[SubmissionEntry, ...]
    conversations: tuple[ConversationEntry, ...] = ()
    newsroom_keys: tuple[bytes, ...] = ()

    def members(self) -> list[str]:
        """Every envelope member the manifest names, submissions first."""
        names = [m for s in self.submissions for m in s.envelopes]
        return names + [r.envelope for c in self.conversations for r in c.replies if r.envelope]


def envelope_member(submission_id: str, index: int) -> str:
    return f"{submission_id}/{index}.envelope"


def reply_member(reply_id: str) -> str:
    return f"{REPLIES_DIR}/{reply_id}.envelope"


# -- writing (always version 2) -------------------------------------------------------------


def manifest_bytes(
    entries: list[SubmissionEntry],
    created_hour: str,
    conversations: tuple[ConversationEntry, ...] | list[ConversationEntry] = (),
    newsroom_keys: tuple[bytes, ...] | list[bytes] = (),
) -> bytes:
    doc = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created_hour": created_hour,
        "newsroom_keys": [k.hex() for k in newsroom_keys],
        "submissions": [
            {
                "id": e.id,
                "received_hour": e.received_hour,
                "sealed_by": e.sealed_by,
                "envelopes": list(e.envelopes),
                "conversation": e.conversation,
            }
            for e in entries
        ],
        "conversations": [
            {
                "id": c.id,
                "source_public_key": c.source_public_key.hex(),
                "replies": [
                    {
                        "id": r.id,
                        "hour": r.hour,
                        "journalist": r.journalist,
                        "sealed_by": r.sealed_by,
                        "deleted_by_source": r.deleted_by_source,
                        "envelope": r.envelope,
                    }
                    for r in c.replies
                ],
            }
            for c in conversations
        ],
    }
    return json.dumps(doc, indent=1, sort_keys=True).encode()


# -- reading ----------------------------------------------------------------------------------


def _small_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise BundleError("The bundle's manifest holds a number far too large to be valid.")
    return int(text)


def _no_float(text: str) -> float:
    raise BundleError("The bundle's manifest holds a number that is not a whole number.")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise BundleError("The bundle's manifest repeats a key.")
    return doc


def _key(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not KEY_HEX.match(value):
        raise BundleError(f"{what} is not a public key of 32 bytes in lower-case hex.")
    return bytes.fromhex(value)


def _submission(s: object, version: int, seen: set[str]) -> SubmissionEntry:
    if not isinstance(s, dict):
        raise BundleError("A submission entry in the manifest is not an object.")
    sid, hour, by, envs = s.get("id"), s.get("received_hour"), s.get("sealed_by"), s.get("envelopes")
    if not isinstance(sid, str) or not SUBMISSION_ID.match(sid) or sid in seen:
        raise BundleError("A submission id in the manifest is invalid or repeated.")
    if not isinstance(hour, str) or not HOUR.match(hour) or by not in ("browser", "server"):
        raise BundleError(f"Submission {sid} has an invalid time or sealing mark.")
    if not isinstance(envs, list) or not 1 <= len(envs) <= MAX_ENVELOPES_PER_SUBMISSION:
        raise BundleError(f"Submission {sid} lists no envelopes, or too many.")
    if envs != [envelope_member(sid, i) for i in range(len(envs))]:
        raise BundleError(f"Submission {sid} lists envelope names that break the bundle rules.")
    conv = None
    if version >= 2:
        if "conversation" not in s:
            raise BundleError(f"Submission {sid} does not say which conversation it belongs to.")
        conv = s["conversation"]
        if conv is not None and (not isinstance(conv, str) or not SUBMISSION_ID.match(conv)):
            raise BundleError(f"Submission {sid} names an invalid conversation id.")
    seen.add(sid)
    return SubmissionEntry(sid, hour, by, tuple(envs), conv)


def _reply(r: object, cid: str, seen: set[str]) -> ReplyEntry:
    if not isinstance(r, dict):
        raise BundleError(f"A reply entry of conversation {cid} is not an object.")
    rid, hour, who, by = r.get("id"), r.get("hour"), r.get("journalist"), r.get("sealed_by")
    deleted = r.get("deleted_by_source")
    if not isinstance(rid, str) or not SUBMISSION_ID.match(rid) or rid in seen:
        raise BundleError(f"A reply id in conversation {cid} is invalid or repeated.")
    if not isinstance(hour, str) or not HOUR.match(hour) or by not in ("browser", "server", "offline"):
        raise BundleError(f"Reply {rid} has an invalid time or sealing mark.")
    if not isinstance(who, str) or not JOURNALIST.match(who):
        raise BundleError(f"Reply {rid} names its journalist in a way no account name can be.")
    if type(deleted) is not bool or "envelope" not in r:
        raise BundleError(f"Reply {rid} does not say whether the source deleted it, or where it is.")
    env = r["envelope"]
    if env != (None if deleted else reply_member(rid)):
        raise BundleError(
            f"Reply {rid} names an envelope that breaks the bundle rules "
            "(a deleted reply has none; any other has replies/<id>.envelope)."
        )
    seen.add(rid)
    return ReplyEntry(rid, hour, who, by, deleted, env)


def _conversation(c: object, seen: set[str], reply_ids: set[str]) -> ConversationEntry:
    if not isinstance(c, dict):
        raise BundleError("A conversation entry in the manifest is not an object.")
    cid, replies = c.get("id"), c.get("replies")
    if not isinstance(cid, str) or not SUBMISSION_ID.match(cid) or cid in seen:
        raise BundleError("A conversation id in the manifest is invalid or repeated.")
    key = _key(c.get("source_public_key"), f"The source key of conversation {cid}")
    if not isinstance(replies, list):
        raise BundleError(f"Conversation {cid} has no reply list.")
    seen.add(cid)
    return ConversationEntry(cid, key, tuple(_reply(r, cid, reply_ids) for r in replies))


def _newsroom_keys(value: object) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > MAX_RECIPIENTS:
        raise BundleError(f"The manifest's newsroom keys are not a list of at most {MAX_RECIPIENTS}.")
    keys = tuple(_key(k, "A newsroom key") for k in value)
    if len(set(keys)) != len(keys):
        raise BundleError("The manifest lists one newsroom key twice.")
    return keys


def read_manifest(data: bytes) -> Manifest:
    """Check a manifest of version 1 or 2 strictly; raise BundleError on anything unexpected."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError("The bundle's manifest is too large.")
    try:
        doc = json.loads(
            data.decode("utf-8"),
            parse_int=_small_int,
            parse_float=_no_float,
            parse_constant=_no_float,
            object_pairs_hook=_unique_keys,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BundleError("The bundle's manifest is not valid JSON.") from None
    if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
        raise BundleError("This is not a Tipline bundle manifest.")
    version = doc.get("version")
    # bool is a subclass of int in Python: `true` must not pass for 1.
    if type(version) is not int or version not in READ_VERSIONS:
        shown = version if type(version) is int else "unknown"
        raise BundleError(f"This bundle is version {shown}; this tool reads versions 1 and 2.")
    created = doc.get("created_hour")
    if not isinstance(created, str) or not HOUR.match(created):
        raise BundleError("The bundle's manifest has an invalid creation time.")
    subs = doc.get("submissions")
    if not isinstance(subs, list):
        raise BundleError("The bundle's manifest has no submission list.")
    seen: set[str] = set()
    entries = tuple(_submission(s, version, seen) for s in subs)
    if version == 1:
        return Manifest(1, created, entries)
    convs_doc = doc.get("conversations")
    if not isinstance(convs_doc, list):
        raise BundleError("The bundle's manifest has no conversation list.")
    conv_ids: set[str] = set()
    reply_ids: set[str] = set()
    convs = tuple(_conversation(c, conv_ids, reply_ids) for c in convs_doc)
    used = {e.conversation for e in entries if e.conversation is not None}
    if used - conv_ids:
        raise BundleError(f"A submission names conversation {min(used - conv_ids)}, which is not listed.")
    if conv_ids - used:
        raise BundleError(f"Conversation {min(conv_ids - used)} is listed without any of its submissions.")
    return Manifest(2, created, entries, convs, _newsroom_keys(doc.get("newsroom_keys")))


def parse_manifest(data: bytes) -> list[SubmissionEntry]:
    """The submissions of a checked manifest (either version)."""
    return list(read_manifest(data).submissions)

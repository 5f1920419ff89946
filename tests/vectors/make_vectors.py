"""Make the committed test vectors for envelope format v1 (docs/envelope.md).

Run from the repository root: python tests/vectors/make_vectors.py [--add]
Each case is one JSON file saying what a reader must do with the envelope.
With --add, only cases that have no file yet are written, so the committed
ones keep their bytes.
Keys, payload keys and the sealing randomness are fixed; libsodium draws the
secretstream header itself, so regenerating gives different bytes with the
same meaning. The committed files are the reference.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
from pathlib import Path

from nacl import bindings

from tipline.format.header import Header, Stanza
from tipline.format.keys import PublicKey, SecretKey
from tipline.format.padding import padme
from tipline.format.payload import Metadata
from tipline.format.stream import CHUNK, TAG_FINAL, TAG_MESSAGE, EnvelopeWriter

HERE = Path(__file__).parent


def fixed_key(n: int) -> SecretKey:
    return SecretKey(hashlib.blake2b(b"tipline test key %d" % n, digest_size=32).digest())


def fixed_sealer(seed: bytes):
    """crypto_box_seal, with its ephemeral key drawn from a seed.

    This is the construction libsodium documents for crypto_box_seal
    (ephemeral key pair; nonce = BLAKE2b-192(epk || pk); crypto_box), used
    only to make vectors reproducible. Readers open them with the real
    crypto_box_seal_open, which proves the two agree.
    """
    counter = [0]

    def seal(payload_key: bytes, recipient: PublicKey) -> bytes:
        counter[0] += 1
        s = hashlib.blake2b(seed + bytes([counter[0]]), digest_size=32).digest()
        epk, esk = bindings.crypto_box_seed_keypair(s)
        nonce = bindings.crypto_generichash_blake2b_salt_personal(epk + recipient.raw, digest_size=24)
        return epk + bindings.crypto_box(payload_key, nonce, recipient.raw, esk)

    return seal


def seal(content: bytes, meta: Metadata, recipients, tag: str) -> bytes:
    out = io.BytesIO()
    pk = hashlib.blake2b(b"payload key " + tag.encode(), digest_size=32).digest()
    w = EnvelopeWriter(out, recipients, _payload_key=pk, _seal=fixed_sealer(tag.encode()))
    w.write(content)
    w.close(meta)
    return out.getvalue()


def raw_envelope(payload: bytes, recipient: PublicKey, tags=None) -> bytes:
    """An envelope around an arbitrary payload P: for cases a writer never makes."""
    key = bindings.crypto_secretstream_xchacha20poly1305_keygen()
    state = bindings.crypto_secretstream_xchacha20poly1305_state()
    sh = bindings.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    header = Header((Stanza(recipient.key_id, bindings.crypto_box_seal(key, recipient.raw)),), sh).to_bytes()
    chunks = [payload[i : i + CHUNK] for i in range(0, len(payload), CHUNK)] or [b""]
    tags = tags or [TAG_MESSAGE] * (len(chunks) - 1) + [TAG_FINAL]
    out = [header]
    for i, (c, t) in enumerate(zip(chunks, tags, strict=True)):
        out.append(
            bindings.crypto_secretstream_xchacha20poly1305_push(state, c, header if i == 0 else None, t)
        )
    return b"".join(out)


def trailer(meta: dict) -> bytes:
    return with_length(json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode())


def with_length(meta_json: bytes) -> bytes:
    return meta_json + len(meta_json).to_bytes(2, "big")


def padded(content: bytes, meta: dict) -> bytes:
    return padded_raw(content, json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode())


def padded_raw(content: bytes, meta_json: bytes) -> bytes:
    """P for meta given as exact bytes, padded as the spec says: its one defect is in meta."""
    t = with_length(meta_json)
    u = len(content) + len(t)
    return content + bytes(padme(u) - u) + t


def main() -> None:
    alice, bob, carol = fixed_key(1), fixed_key(2), fixed_key(3)
    cases: dict[str, dict] = {}

    def ok(name, desc, env, key, content, meta):
        cases[name] = {
            "description": desc,
            "envelope": env,
            "secret_key": key,
            "expect": "ok",
            "content": content,
            "meta": meta,
        }

    def bad(name, desc, env, key, error):
        cases[name] = {"description": desc, "envelope": env, "secret_key": key, "expect": error}

    msg = "A tip: the contract was signed on the 3rd. — ✓\n".encode()
    m_meta = Metadata("message", "", "text/plain; charset=utf-8")
    ok(
        "message_one_recipient",
        "a short message to one recipient",
        seal(msg, m_meta, [alice.public_key], "m1"),
        alice,
        msg,
        m_meta,
    )
    ok(
        "empty_message",
        "an empty content (0 bytes)",
        seal(b"", m_meta, [alice.public_key], "e"),
        alice,
        b"",
        m_meta,
    )
    three = seal(msg, m_meta, [alice.public_key, bob.public_key, carol.public_key], "m3")
    ok("three_recipients_first", "three recipients, read by the first", three, alice, msg, m_meta)
    ok("three_recipients_last", "three recipients, read by the last", three, carol, msg, m_meta)
    f_meta = Metadata("file", "Ünïcode report (final).pdf", "application/pdf")
    for n, label in (
        (CHUNK - 200, "just_under_chunk"),
        (CHUNK, "one_chunk_of_content"),
        (2 * CHUNK + 1, "three_chunks"),
    ):
        content = hashlib.shake_256(label.encode()).digest(n)
        ok(
            f"file_{label}",
            f"a file of {n} bytes",
            seal(content, f_meta, [bob.public_key], label),
            bob,
            content,
            f_meta,
        )
    base = seal(msg, m_meta, [alice.public_key], "base")
    hostile = Metadata("file", "../../.ssh/authorized_keys", "text/plain")
    ok(
        "hostile_name",
        "a file whose name tries path traversal: readers must sanitize it",
        seal(b"ssh-ed25519 AAAA\n", hostile, [alice.public_key], "h"),
        alice,
        b"ssh-ed25519 AAAA\n",
        hostile,
    )

    bad("not_an_envelope", "no magic", b"%PDF-1.4" + base[8:], alice, "NotAnEnvelope")
    bad("version_2", "an unknown version", base[:7] + b"\x02" + base[8:], alice, "UnsupportedVersion")
    bad("zero_recipients", "count 0", base[:8] + b"\x00" + base[9:], alice, "MalformedHeader")
    bad("too_many_recipients", "count 33", base[:8] + b"\x21" + base[9:], alice, "TooManyRecipients")
    bad("truncated_header", "cut inside the stanza", base[:50], alice, "MalformedHeader")
    bad("wrong_key", "sealed to alice, read by bob", base, bob, "NoMatchingKey")
    bad(
        "truncated_at_chunk_boundary",
        "a 2-chunk envelope without its final chunk",
        (lambda e: e[: 9 + 88 + 24 + CHUNK + 17])(seal(bytes(CHUNK + 10), f_meta, [bob.public_key], "t")),
        bob,
        "DecryptionFailed",
    )
    bad("truncated_mid_chunk", "the last byte missing", base[:-1], alice, "DecryptionFailed")
    bad("appended_byte", "one byte after the final chunk", base + b"\x00", alice, "DecryptionFailed")
    flipped = bytearray(base)
    flipped[-5] ^= 1
    bad("flipped_payload_bit", "one bit flipped in the payload", bytes(flipped), alice, "DecryptionFailed")
    stz = bytearray(base)
    stz[9 + 8 + 40] ^= 1
    bad("flipped_stanza_bit", "one bit flipped in the sealed key", bytes(stz), alice, "DecryptionFailed")
    # Two recipients with the second stanza removed: the header no longer matches the AD.
    two = seal(msg, m_meta, [alice.public_key, bob.public_key], "two")
    cut = two[:8] + b"\x01" + two[9 : 9 + 88] + two[9 + 176 :]
    bad(
        "stanza_removed",
        "a recipient stanza removed: header no longer authenticates",
        cut,
        alice,
        "DecryptionFailed",
    )
    good_meta = {"v": 1, "kind": "file", "name": "a", "type": "", "length": 3}
    bad(
        "padding_not_zero",
        "authenticates, but a padding byte is not zero",
        raw_envelope(
            b"abc"
            + b"\x01" * (padme(3 + len(trailer(good_meta))) - 3 - len(trailer(good_meta)))
            + trailer(good_meta),
            alice.public_key,
        ),
        alice,
        "MalformedPayload",
    )
    bad(
        "padding_wrong_length",
        "authenticates, but the padding is not Padmé's",
        raw_envelope(b"abc" + bytes(100) + trailer(good_meta), alice.public_key),
        alice,
        "MalformedPayload",
    )
    bad(
        "meta_duplicate_key",
        "meta repeats a key",
        raw_envelope(
            b"abc" + with_length(b'{"v":1,"kind":"file","name":"a","name":"b","type":"","length":3}'),
            alice.public_key,
        ),
        alice,
        "MalformedPayload",
    )
    bad(
        "length_too_large",
        "meta claims more content than there is",
        raw_envelope(b"abc" + trailer(dict(good_meta, length=9)), alice.public_key),
        alice,
        "MalformedPayload",
    )
    bad(
        "final_tag_early",
        "TAG_FINAL on the first of two chunks",
        raw_envelope(
            padded(bytes(CHUNK + 5), dict(good_meta, length=CHUNK + 5)),
            alice.public_key,
            tags=[TAG_FINAL, TAG_FINAL],
        ),
        alice,
        "DecryptionFailed",
    )

    bad(
        "meta_lone_surrogate",
        "meta is JSON, but its name escapes a lone surrogate (\\ud800), which has no UTF-8 form",
        raw_envelope(
            padded_raw(b"abc", b'{"v":1,"kind":"file","name":"\\ud800.txt","type":"","length":3}'),
            alice.public_key,
        ),
        alice,
        "MalformedPayload",
    )
    bad(
        "meta_message_with_name",
        "a message whose meta gives it a file name",
        raw_envelope(
            padded(b"abc", {"v": 1, "kind": "message", "name": "a.exe", "type": "", "length": 3}),
            alice.public_key,
        ),
        alice,
        "MalformedPayload",
    )

    add_only = "--add" in sys.argv[1:]
    if not add_only:
        for old in HERE.glob("*.json"):
            old.unlink()
    written = 0
    for name, c in sorted(cases.items()):
        if add_only and (HERE / f"{name}.json").exists():
            continue
        written += 1
        doc = {
            "description": c["description"],
            "secret_key": c["secret_key"].raw.hex(),
            "public_key": c["secret_key"].public_key.raw.hex(),
            "expect": c["expect"],
            "envelope": base64.b64encode(c["envelope"]).decode(),
        }
        if c["expect"] == "ok":
            m = c["meta"]
            doc["meta"] = {"kind": m.kind, "name": m.name, "type": m.media_type}
            doc["content_sha256"] = hashlib.sha256(c["content"]).hexdigest()
            doc["content_length"] = len(c["content"])
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {written} of {len(cases)} vectors to {HERE}")


if __name__ == "__main__":
    main()

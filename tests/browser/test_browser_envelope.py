"""envelope.js seals in the browser what the Python reader opens, byte-exact.

Every test seals in Chromium (see conftest.py for the three modes), brings the
envelope back as base64 and opens it with tipline.format.stream.decrypt_bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import random

import pytest

from tipline.format.errors import DecryptionFailed
from tipline.format.header import read_header
from tipline.format.keys import SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import CHUNK, decrypt_bytes, seal_bytes

SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5]
MESSAGE_META = Metadata("message", "", "text/plain; charset=utf-8")

SEAL_TEXT = """async ({text, keys}) => {
  const env = await TiplineEnvelope.sealText(text, keys.map(T.b64ToBytes));
  return await T.blobToB64(env);
}"""

SEAL_URL = """async ({url, name, type, keys}) => {
  const file = new File([await T.fetchBlob(url)], name, {type});
  const env = await TiplineEnvelope.sealBlob(file, {kind: "file", name, type}, keys.map(T.b64ToBytes));
  return await T.blobToB64(env);
}"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pub64(*keys: SecretKey) -> list[str]:
    return [b64(k.public_key.raw) for k in keys]


def text_of_utf8_size(n: int) -> str:
    """A string whose UTF-8 encoding is exactly n bytes, with 1- to 4-byte characters."""
    pieces = ["a", "é", "€", "😀", "\n", '"', "\\", "\u2028", "\x00", "Ω", "\ufeff"]
    out, size, i = [], 0, 0
    while size < n:
        p = pieces[i % len(pieces)]
        i += 1
        if size + len(p.encode()) > n:
            p = "a"
        out.append(p)
        size += len(p.encode())
    return "".join(out)


def seal_file(page, content: bytes, name: str, media_type: str, *keys: SecretKey) -> bytes:
    url = page.server.add_file(hashlib.sha256(content + name.encode()).hexdigest(), content)
    env = page.evaluate(SEAL_URL, {"url": url, "name": name, "type": media_type, "keys": pub64(*keys)})
    return base64.b64decode(env)


@pytest.mark.parametrize("size", SIZES)
def test_message_roundtrip(env_page, alice, size):
    text = text_of_utf8_size(size)
    env = base64.b64decode(env_page.evaluate(SEAL_TEXT, {"text": text, "keys": pub64(alice)}))
    meta, content = decrypt_bytes(env, [alice])
    assert meta == MESSAGE_META
    assert content == text.encode()
    # Same padding, metadata and chunking as the Python writer: the same size.
    assert len(env) == len(seal_bytes(text.encode(), MESSAGE_META, [alice.public_key]))


@pytest.mark.parametrize("size", SIZES)
def test_file_roundtrip(env_page, alice, size):
    content = random.Random(size).randbytes(size)
    env = seal_file(env_page, content, "scan 01.pdf", "application/pdf", alice)
    meta, got = decrypt_bytes(env, [alice])
    assert meta == Metadata("file", "scan 01.pdf", "application/pdf")
    assert got == content
    assert len(env) == len(seal_bytes(content, meta, [alice.public_key]))


@pytest.mark.parametrize("size", [0, CHUNK - 4000, 2 * CHUNK])
def test_long_name_roundtrip(env_page, alice, size):
    """Meta near its 4096-byte limit (a two-byte meta length; padding across chunks)."""
    name = "😀" * 1000 + ".txt"
    content = random.Random(size).randbytes(size)
    env = seal_file(env_page, content, name, "text/plain", alice)
    meta, got = decrypt_bytes(env, [alice])
    assert (meta.name, got) == (name, content)
    assert len(env) == len(seal_bytes(content, meta, [alice.public_key]))


def test_file_input_with_progress(env_page, alice, tmp_path):
    """A real File from an <input type=file>, about 1 MB, with progress reports."""
    size = 1_000_003
    content = random.Random(7).randbytes(size)
    path = tmp_path / "Leak – budget 2024.xlsx"
    path.write_bytes(content)
    env_page.page.set_input_files("#file", str(path))
    result = env_page.evaluate(
        """async ({keys}) => {
          const f = document.getElementById("file").files[0];
          const calls = [];
          const env = await TiplineEnvelope.sealBlob(
            f, {kind: "file", name: f.name, type: f.type}, keys.map(T.b64ToBytes),
            (done, total) => calls.push([done, total]));
          return {env: await T.blobToB64(env), calls, name: f.name, type: f.type};
        }""",
        {"keys": pub64(alice)},
    )
    meta, got = decrypt_bytes(base64.b64decode(result["env"]), [alice])
    assert got == content
    assert meta == Metadata("file", path.name, result["type"])
    calls = result["calls"]
    assert calls[0] == [0, size] and calls[-1] == [size, size]
    assert all(a[0] < b[0] for a, b in itertools.pairwise(calls))
    assert all(t == size for _, t in calls)


def test_page_stays_responsive_while_sealing(jitless_page, alice):
    """Without a JIT sealing runs at about 1 MiB/s: the page must get turns to repaint.

    1 MiB is one read piece, so only envelope.js's own yields let other tasks in.
    Counted, not timed: a task that re-posts itself runs once per yield, and not
    at all while the seal holds the thread. A slower (busier) machine only yields more.
    """
    turns = jitless_page.evaluate(
        """async (keys) => {
          let turns = 0, on = true;
          const channel = new MessageChannel();
          channel.port1.onmessage = () => { turns += 1; if (on) channel.port2.postMessage(null); };
          const blob = new Blob([new Uint8Array(1 << 20)]);
          const meta = {kind: "file", name: "", type: ""};
          const sealing = TiplineEnvelope.sealBlob(blob, meta, keys.map(T.b64ToBytes));
          channel.port2.postMessage(null);
          await sealing;
          on = false;
          channel.port1.close();
          return turns;
        }""",
        pub64(alice),
    )
    # 16 chunks of ~0.1 s each without a JIT, a yield every 50 ms: many turns. Without
    # yielding, the seal would run to its end in one go and the task would get at most one.
    assert turns >= 3, turns


def test_large_file_many_pieces(wasm_page, alice):
    """17 MiB + 3: many read pieces, and output flushed into Blobs more than once."""
    content = random.Random(17).randbytes(17 * 1024 * 1024 + 3)
    env = seal_file(wasm_page, content, "video.mp4", "video/mp4", alice)
    meta, got = decrypt_bytes(env, [alice])
    assert meta.name == "video.mp4"
    assert hashlib.sha256(got).digest() == hashlib.sha256(content).digest()


def test_recipients_and_header_layout(env_page, alice, bob):
    carol = SecretKey.generate()
    env = seal_file(env_page, b"three readers", "a.txt", "text/plain", alice, bob, carol)
    header, header_bytes = read_header(io.BytesIO(env))
    assert header_bytes[:9] == b"TIPLINE\x01\x03"
    assert len(header_bytes) == 9 + 88 * 3 + 24
    assert [s.key_id for s in header.stanzas] == [k.public_key.key_id for k in (alice, bob, carol)]
    for k in (alice, bob, carol):
        assert decrypt_bytes(env, [k])[1] == b"three readers"


def test_thirty_two_recipients(wasm_page):
    keys = [SecretKey.generate() for _ in range(32)]
    env = seal_file(wasm_page, b"x", "x", "", *keys)
    assert env[8] == 32
    assert decrypt_bytes(env, [keys[31]])[1] == b"x"


@pytest.mark.parametrize(
    ("keys_js", "error"),
    [
        ("[]", "RangeError"),
        ("Array.from({length: 33}, () => new Uint8Array(32))", "RangeError"),
        ("[new Uint8Array(31)]", "TypeError"),
        ("[[1, 2, 3]]", "TypeError"),
        ("null", "TypeError"),
    ],
)
def test_bad_recipient_keys_rejected(wasm_page, keys_js, error):
    got = wasm_page.evaluate(
        f"""async () => {{
          try {{ await TiplineEnvelope.sealText("hi", {keys_js}); return "sealed"; }}
          catch (e) {{ return e.name; }}
        }}"""
    )
    assert got == error


def test_header_is_first_chunk_ad(wasm_page, alice, bob):
    """Changing bob's stanza makes alice's read fail: the header is bound to the payload."""
    env = bytearray(seal_file(wasm_page, b"bound", "b", "", alice, bob))
    assert decrypt_bytes(bytes(env), [alice])[1] == b"bound"
    env[9 + 88 + 8 + 5] ^= 1
    with pytest.raises(DecryptionFailed):
        decrypt_bytes(bytes(env), [alice])


def test_fresh_keys_every_time(wasm_page, alice):
    envs = [
        base64.b64decode(wasm_page.evaluate(SEAL_TEXT, {"text": "same", "keys": pub64(alice)}))
        for _ in range(2)
    ]
    (h1, b1), (h2, b2) = (read_header(io.BytesIO(e)) for e in envs)
    assert h1.stanzas[0].key_id == h2.stanzas[0].key_id
    assert h1.stanzas[0].sealed_key != h2.stanzas[0].sealed_key
    assert h1.stream_header != h2.stream_header
    assert envs[0][len(b1) :] != envs[1][len(b2) :]


def test_key_id_matches_python(env_page, alice, bob):
    got = env_page.evaluate(
        """async (keys) => {
          const out = [];
          for (const k of keys) out.push(Array.from(await TiplineEnvelope.keyId(T.b64ToBytes(k))));
          return out;
        }""",
        pub64(alice, bob),
    )
    assert [bytes(x) for x in got] == [alice.public_key.key_id, bob.public_key.key_id]


META_NAMES = [
    "report.pdf",
    "",
    'quote " and back\\slash',
    "ctrl \x00\x01\x08\t\n\x0c\r\x1f\x7f end",
    "line\u2028sep\u2029para",
    "Ünïcödé – 日本語 😀.docx",
    "e\u0301 combining",
    "../../etc/passwd",
    "x" * 1024,
    "😀" * 1000,
]


@pytest.mark.parametrize("name", META_NAMES, ids=range(len(META_NAMES)))
def test_meta_bytes_match_python(env_page, name):
    # A message has no name (docs/envelope.md): there the string is tried as its type.
    cases = [("file", name, "application/pdf", 48213)]
    if len(name) <= 255:
        cases.append(("message", "", name, 2**53 - 1))
    for kind, meta_name, mtype, length in cases:
        got = env_page.evaluate(
            """([kind, name, type, length]) =>
                 Array.from(TiplineEnvelope.encodeMeta({kind, name, type}, length))""",
            [kind, meta_name, mtype, length],
        )
        assert bytes(got) == Metadata(kind, meta_name, mtype).encode(length)


def test_meta_lone_surrogates_become_replacement_chars(wasm_page):
    got = wasm_page.evaluate(
        """() => Array.from(TiplineEnvelope.encodeMeta(
             {kind: "file", name: "a\\ud800b\\udc00c\\ud83d\\ude00", type: ""}, 1))"""
    )
    assert bytes(got) == Metadata("file", "a\ufffdb\ufffdc😀", "").encode(1)


@pytest.mark.parametrize(
    ("meta_js", "error"),
    [
        ('{kind: "file", name: "x".repeat(1025), type: ""}', "RangeError"),
        ('{kind: "file", name: "", type: "t".repeat(256)}', "RangeError"),
        ('{kind: "file", name: "\\ud83d\\ude00".repeat(1024), type: ""}', "RangeError"),
        ('{kind: "other", name: "", type: ""}', "TypeError"),
        ('{kind: "file", name: 5, type: ""}', "TypeError"),
        ('{kind: "message", name: "x.exe", type: ""}', "TypeError"),
    ],
)
def test_bad_meta_rejected(wasm_page, meta_js, error):
    got = wasm_page.evaluate(
        f"() => {{ try {{ TiplineEnvelope.encodeMeta({meta_js}, 1); return 'ok'; }} "
        "catch (e) { return e.name; } }"
    )
    assert got == error


# -- the streaming sealer (upload.js sends its output in parts) ----------------------------------

SEAL_STREAM = """async ({url, name, keys, resume}) => {
  const file = new File([await T.fetchBlob(url)], name);
  const meta = TiplineEnvelope.fileMeta(name, "");
  const again = resume && {payloadKey: T.b64ToBytes(resume.key), header: T.b64ToBytes(resume.header)};
  const s = await TiplineEnvelope.sealer(file, meta, keys.map(T.b64ToBytes), again);
  const out = [];
  for (let b = await s.next(); b !== null; b = await s.next()) out.push(new Blob([b]));  // valid until next()
  const env = new Blob(out);
  return {
    env: await T.blobToB64(env),
    declared: s.length,
    predicted: TiplineEnvelope.envelopeLength(file.size, meta, keys.length),
    key: await T.blobToB64(new Blob([s.payloadKey])),
    header: await T.blobToB64(new Blob([s.header])),
  };
}"""

# Content sizes whose padded payload P lands on both sides of a chunk and of a read piece
# (16 chunks), less the trailer (the meta for the name "x", plus its 2 length bytes).
TRAILER = len(Metadata("file", "x", "").encode(0)) + 2
STREAM_SIZES = [0, 1, *(CHUNK - TRAILER + d for d in (-1, 0, 1)), 16 * CHUNK - TRAILER, 16 * CHUNK + 1]


@pytest.mark.parametrize("size", STREAM_SIZES)
def test_sealer_length_is_known_before_and_resealing_gives_the_same_bytes(env_page, alice, bob, size):
    content = random.Random(size + 1).randbytes(size)
    url = env_page.server.add_file(f"stream-{size}", content)
    keys = pub64(alice, bob)
    first = env_page.evaluate(SEAL_STREAM, {"url": url, "name": "x", "keys": keys, "resume": None})
    env = base64.b64decode(first["env"])
    assert first["declared"] == first["predicted"] == len(env)
    assert len(env) == len(seal_bytes(content, Metadata("file", "x", ""), [alice.public_key, bob.public_key]))
    assert decrypt_bytes(env, [bob])[1] == content
    # What upload.js keeps in sessionStorage re-creates the envelope byte for byte.
    resume = {"key": first["key"], "header": first["header"]}
    again = env_page.evaluate(SEAL_STREAM, {"url": url, "name": "x", "keys": keys, "resume": resume})
    assert again["env"] == first["env"]
    assert again["declared"] == len(env)
    assert base64.b64decode(first["header"]) == env[: 9 + 88 * 2 + 24]

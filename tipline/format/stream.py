"""Seal and open envelopes as streams, in constant memory.

The payload is crypto_secretstream_xchacha20poly1305 in 64 KiB chunks; the
header is the first chunk's additional data, and the last chunk must carry
TAG_FINAL (docs/envelope.md, "Chunks" and "Reading").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO, Protocol

import nacl.exceptions
from nacl import bindings

from .errors import BadLength, DecryptionFailed, MalformedPayload, NoMatchingKey
from .header import Header, Stanza, read_header
from .keys import PublicKey, SecretKey, open_sealed_key, seal_key
from .padding import padme
from .payload import MAX_META_BYTES, META_LENGTH_BYTES, Metadata, decode_meta

CHUNK = 65536
ABYTES = bindings.crypto_secretstream_xchacha20poly1305_ABYTES  # 17
CHUNK_CT = CHUNK + ABYTES
TAG_MESSAGE = bindings.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_TAIL = MAX_META_BYTES + META_LENGTH_BYTES
_ZEROS = bytes(CHUNK)


class Sink(Protocol):
    """Where decrypted content goes: a file opened for writing, or BytesIO."""

    def write(self, data: bytes, /) -> object: ...


class EnvelopeWriter:
    """Write one envelope to `out`: feed content with write(), then close(meta).

    Holds at most one chunk of plaintext, so the server can seal an upload of
    any size as it arrives. Nothing is written if construction fails.
    """

    def __init__(
        self,
        out: BinaryIO,
        recipients: Sequence[PublicKey],
        *,
        _payload_key: bytes | None = None,
        _seal: Callable[[bytes, PublicKey], bytes] = seal_key,
    ) -> None:
        # _payload_key and _seal are the test seam for fixed vectors; never
        # pass them in production code.
        key = _payload_key or bindings.crypto_secretstream_xchacha20poly1305_keygen()
        self._state = bindings.crypto_secretstream_xchacha20poly1305_state()
        stream_header = bindings.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        header = Header(tuple(Stanza(r.key_id, _seal(key, r)) for r in recipients), stream_header)
        self._ad: bytes | None = header.to_bytes()
        self._out = out
        self._buf = bytearray()
        self._length = 0
        self._closed = False
        self.bytes_written = len(self._ad)
        out.write(self._ad)

    @property
    def length(self) -> int:
        """Content bytes written so far."""
        return self._length

    def _push(self, data: bytes, tag: int) -> None:
        c = bindings.crypto_secretstream_xchacha20poly1305_push(self._state, data, self._ad, tag)
        self._ad = None
        self._out.write(c)
        self.bytes_written += len(c)

    def _feed(self, data: bytes | bytearray | memoryview) -> None:
        # A chunk is pushed only once more data is known to follow, so that
        # whatever is buffered at close() becomes the TAG_FINAL chunk.
        mv = memoryview(data)
        pos = 0
        while True:
            room = CHUNK - len(self._buf)
            if room:
                piece = mv[pos : pos + room]
                self._buf += piece
                pos += len(piece)
            if pos < len(mv):
                self._push(bytes(self._buf), TAG_MESSAGE)
                self._buf.clear()
            else:
                return

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed envelope")
        n = len(data)
        self._length += n
        self._feed(data)
        return n

    def close(self, meta: Metadata, *, _meta_json: bytes | None = None) -> int:
        """Pad, append the metadata, push the final chunk. Returns envelope size.

        _meta_json is the test seam for hostile metadata: those exact bytes
        replace meta's encoding. Never pass it in production code.
        """
        if self._closed:
            raise ValueError("envelope already closed")
        self._closed = True
        trailer = meta.encode(self._length) if _meta_json is None else _meta_json
        trailer += len(trailer).to_bytes(META_LENGTH_BYTES, "big")
        unpadded = self._length + len(trailer)
        padding = padme(unpadded) - unpadded
        while padding:
            n = min(padding, CHUNK)
            self._feed(_ZEROS[:n])
            padding -= n
        self._feed(trailer)
        self._push(bytes(self._buf), TAG_FINAL)
        self._buf.clear()
        return self.bytes_written


def check_length(header_length: int, envelope_length: int) -> None:
    """Raise BadLength unless the length fits the chunk layout and Padmé.

    Needs no key: P's length follows from the envelope's, and a writer that
    follows the spec always pads P to a length that Padmé leaves unchanged.
    """
    body = envelope_length - header_length
    full, rest = divmod(body, CHUNK_CT)
    if body <= ABYTES or 0 < rest <= ABYTES:
        raise BadLength("The envelope's length does not fit the chunk layout; it is truncated.")
    p_length = full * CHUNK + (rest - ABYTES if rest else 0)
    if padme(p_length) != p_length:
        raise BadLength("The envelope's length is not a padded length; it was not made by a Tipline writer.")


def seal_bytes(content: bytes, meta: Metadata, recipients: Sequence[PublicKey]) -> bytes:
    """Seal content held in memory (messages, tests)."""
    import io

    out = io.BytesIO()
    writer = EnvelopeWriter(out, recipients)
    writer.write(content)
    writer.close(meta)
    return out.getvalue()


def _read_full(src: BinaryIO, n: int) -> bytes:
    parts = []
    while n:
        data = src.read(n)
        if not data:
            break
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


def unlock(header: Header, identities: Iterable[SecretKey]) -> bytes:
    """Find a stanza for one of the identities and return the payload key."""
    by_id: dict[bytes, list[SecretKey]] = {}
    for sk in identities:
        by_id.setdefault(sk.public_key.key_id, []).append(sk)
    matched = False
    for stanza in header.stanzas:
        for sk in by_id.get(stanza.key_id, ()):
            matched = True
            key = open_sealed_key(stanza.sealed_key, sk)
            if key is not None:
                return key
    if not matched:
        raise NoMatchingKey("This envelope was not sealed to your key.")
    raise DecryptionFailed("Could not authenticate this envelope: it is damaged or was tampered with.")


def decrypt(
    src: BinaryIO,
    identities: Iterable[SecretKey],
    sink: Sink,
    *,
    progress: Callable[[int], None] | None = None,
    header: tuple[Header, bytes] | None = None,
) -> tuple[Metadata, int]:
    """Decrypt one envelope from src, writing its content to sink.

    Returns (metadata, content length). sink receives the content as the
    stream is read (never the padding); treat it as untrusted until this
    returns, since a later chunk may still fail (the offline tool keeps it
    under a temporary name). Raises a TiplineError subclass on any bad input.
    header: (Header, its bytes) when the caller already read it from src.
    """
    hdr, header_bytes = header or read_header(src)
    state = bindings.crypto_secretstream_xchacha20poly1305_state()
    bindings.crypto_secretstream_xchacha20poly1305_init_pull(
        state, hdr.stream_header, unlock(hdr, identities)
    )
    if progress:
        progress(len(header_bytes))

    failed = "Could not authenticate this envelope: it is damaged, truncated or was tampered with."
    out = _Output(sink)
    # The metadata sits in the last _TAIL bytes of P at most, which may begin
    # in the chunk before the last (every chunk but the last is full).
    held = b""
    ad: bytes | None = header_bytes
    cur = _read_full(src, CHUNK_CT)
    while True:
        if len(cur) <= ABYTES:
            raise DecryptionFailed(failed)
        nxt = _read_full(src, CHUNK_CT) if len(cur) == CHUNK_CT else b""
        try:
            m, tag = bindings.crypto_secretstream_xchacha20poly1305_pull(state, cur, ad)
        except nacl.exceptions.CryptoError:
            raise DecryptionFailed(failed) from None
        ad = None
        if tag != (TAG_MESSAGE if nxt else TAG_FINAL):
            raise DecryptionFailed(failed)
        if progress:
            progress(len(cur))
        if not nxt:
            break
        # Hold back only what the metadata may need: the tail of this chunk
        # when the next one is a final chunk too short to hold it alone.
        keep = max(0, _TAIL - (len(nxt) - ABYTES)) if len(nxt) < CHUNK_CT else 0
        out.emit(memoryview(m)[: len(m) - keep] if keep else m)
        held = m[len(m) - keep :] if keep else b""
        cur = nxt

    tail = held + m
    total = out.emitted + len(tail)
    meta_len = int.from_bytes(tail[-META_LENGTH_BYTES:], "big") if len(tail) >= 2 else 0
    if not META_LENGTH_BYTES <= meta_len <= min(MAX_META_BYTES, total - META_LENGTH_BYTES):
        raise MalformedPayload("The item's metadata length is out of range.")
    meta, length = decode_meta(tail[-META_LENGTH_BYTES - meta_len : -META_LENGTH_BYTES])
    out.emit(memoryview(tail)[: len(tail) - META_LENGTH_BYTES - meta_len])
    if length > out.emitted or out.written > length:
        raise MalformedPayload("The item's length does not match its content.")
    if total != padme(length + meta_len + META_LENGTH_BYTES):
        raise MalformedPayload("The item's padding is not the length the format requires.")
    out.finish(length)
    return meta, length


class _Output:
    """Passes P's bytes to the sink, holding back runs of trailing zeros.

    Padding is all zeros, so the content ends at or after the last non-zero
    byte. Zeros are written only once a later non-zero byte shows they are
    content, or at the end up to the content's length: the padding never
    reaches the sink, and nothing needs reading back or truncating.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.emitted = 0  # bytes of P seen
        self.written = 0  # bytes written to the sink: just past the last non-zero byte, or the end

    def _zeros(self, n: int) -> None:
        while n > 0:
            k = min(n, CHUNK)
            self.sink.write(_ZEROS[:k])
            self.written += k
            n -= k

    def emit(self, piece: bytes | memoryview) -> None:
        n = len(piece)
        if not n:
            return
        data = piece if piece[-1] else bytes(piece).rstrip(b"\0")
        if data:
            self._zeros(self.emitted - self.written)
            self.sink.write(data)
            self.written = self.emitted + len(data)
        self.emitted += n

    def finish(self, length: int) -> None:
        self._zeros(length - self.written)


def decrypt_bytes(envelope: bytes, identities: Iterable[SecretKey]) -> tuple[Metadata, bytes]:
    """Decrypt an envelope held in memory (tests, small items)."""
    import io

    sink = io.BytesIO()
    meta, _ = decrypt(io.BytesIO(envelope), identities, sink)
    return meta, sink.getvalue()

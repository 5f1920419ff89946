"""Round trips of every size class, and rejection of every kind of damage."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipline.format.errors import (
    DecryptionFailed,
    MalformedHeader,
    NoMatchingKey,
    TiplineError,
    TooManyRecipients,
)
from tipline.format.header import MAX_RECIPIENTS
from tipline.format.padding import padme
from tipline.format.payload import Metadata
from tipline.format.stream import CHUNK, EnvelopeWriter, decrypt_bytes, seal_bytes

META = Metadata("file", "name.bin", "application/octet-stream")
TRAILER = len(META.encode(0)) + 2


def boundary_sizes(meta: Metadata = META) -> list[int]:
    """Content sizes on each side of chunk boundaries, for the content and for P.

    Padmé rounds P to a multiple of 2048 or 4096 here, so P never ends one byte off a
    boundary: the sides that exist are P = k * CHUNK (last size that fits in
    k chunks) and the next padded size, one chunk more.
    """
    sizes = {0, 1, 2}
    for k in (1, 2, 3):
        target = k * CHUNK
        sizes |= {target - 1, target, target + 1}  # content itself on a boundary
        fits = max(n for n in range(target - 5000, target) if total(n, meta) <= target)
        sizes |= {fits, fits + 1}
    return sorted(sizes)


def total(n: int, meta: Metadata = META) -> int:
    return padme(n + len(meta.encode(n)) + 2)


@pytest.mark.parametrize("n", boundary_sizes())
def test_roundtrip_at_chunk_boundaries(alice, n):
    data = bytes((i * 7) & 0xFF for i in range(n))
    meta, out = decrypt_bytes(seal_bytes(data, META, [alice.public_key]), [alice])
    assert out == data
    assert meta == META


def test_padded_sizes_hit_exact_boundaries():
    # The boundary cases above must really include P = k*CHUNK exactly.
    totals = {total(n) for n in boundary_sizes()}
    for k in (1, 2, 3):
        assert k * CHUNK in totals
        assert any(k * CHUNK < t <= k * CHUNK + 4096 for t in totals)  # next Padmé step


def test_metadata_split_across_chunks(alice):
    # A long name makes the trailer longer than Padmé's 2048-byte step, so
    # for some sizes the metadata starts in one chunk and ends in the next.
    meta = Metadata("file", "é" * 1000 + ".txt", "text/plain")
    n = next(n for n in range(CHUNK - 4096, 2 * CHUNK) if total(n, meta) == CHUNK + 2048)
    trailer = len(meta.encode(n)) + 2
    assert total(n, meta) - trailer < CHUNK  # it really straddles the boundary
    data = b"\x01" * n
    got, plain = decrypt_bytes(seal_bytes(data, meta, [alice.public_key]), [alice])
    assert plain == data and got == meta


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3 * CHUNK + 100), pieces=st.integers(1, 7))
def test_roundtrip_any_content_any_write_pattern(alice, data, pieces):
    out = io.BytesIO()
    w = EnvelopeWriter(out, [alice.public_key])
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        w.write(data[i : i + step])
    size = w.close(META)
    assert size == len(out.getvalue())
    meta, plain = decrypt_bytes(out.getvalue(), [alice])
    assert plain == data and meta == META


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=300), mtype=st.text(max_size=100), kind=st.sampled_from(["message", "file"]))
def test_any_metadata_roundtrips(alice, name, mtype, kind):
    meta = Metadata(kind, "" if kind == "message" else name, mtype)  # a message has no name
    got, plain = decrypt_bytes(seal_bytes(b"x", meta, [alice.public_key]), [alice])
    assert got == meta and plain == b"x"


def test_each_of_many_recipients_can_read(alice, bob):
    from tipline.format.keys import SecretKey

    others = [SecretKey.generate() for _ in range(MAX_RECIPIENTS - 2)]
    everyone = [alice, bob, *others]
    env = seal_bytes(b"to all", META, [k.public_key for k in everyone])
    for k in (alice, bob, others[-1]):
        assert decrypt_bytes(env, [k])[1] == b"to all"


def test_recipient_limits(alice):
    with pytest.raises(TooManyRecipients):
        seal_bytes(b"", META, [alice.public_key] * (MAX_RECIPIENTS + 1))
    with pytest.raises(MalformedHeader):
        seal_bytes(b"", META, [])


def test_reader_with_several_keys_finds_its_own(alice, bob):
    env = seal_bytes(b"hi", META, [bob.public_key])
    assert decrypt_bytes(env, [alice, bob])[1] == b"hi"
    with pytest.raises(NoMatchingKey):
        decrypt_bytes(env, [alice])


@pytest.fixture(scope="module")
def sample(alice):
    # Two chunks and a bit, to put damage in the header, a middle chunk and the last one.
    return seal_bytes(bytes(range(256)) * 600, META, [alice.public_key])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_flipped_bit_is_rejected(alice, sample, data):
    i = data.draw(st.integers(0, len(sample) - 1))
    bit = data.draw(st.integers(0, 7))
    bad = bytearray(sample)
    bad[i] ^= 1 << bit
    with pytest.raises(TiplineError):
        decrypt_bytes(bytes(bad), [alice])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_truncation_is_rejected(alice, sample, data):
    cut = data.draw(st.integers(0, len(sample) - 1))
    with pytest.raises(TiplineError):
        decrypt_bytes(sample[:cut], [alice])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.binary(min_size=1, max_size=CHUNK + 40))
def test_any_appended_bytes_are_rejected(alice, sample, extra):
    with pytest.raises(DecryptionFailed):
        decrypt_bytes(sample + extra, [alice])


def test_chunks_cannot_be_reordered_or_dropped(alice, sample):
    header_len = 9 + 88 + 24
    body = sample[header_len:]
    c = CHUNK + 17
    chunks = [body[i : i + c] for i in range(0, len(body), c)]
    assert len(chunks) == 3
    for order in ([1, 0, 2], [0, 2], [0, 0, 1, 2], [0, 1, 1, 2]):
        with pytest.raises(DecryptionFailed):
            decrypt_bytes(sample[:header_len] + b"".join(chunks[i] for i in order), [alice])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_garbage_never_crashes(garbage):
    from tipline.format.keys import SecretKey

    with pytest.raises(TiplineError):
        decrypt_bytes(b"TIPLINE\x01" + garbage, [SecretKey(bytes(32))])
    with pytest.raises(TiplineError):
        decrypt_bytes(garbage, [SecretKey(bytes(32))])


@pytest.mark.parametrize("n", [0, 1, 63000, 65536, 200_000])
def test_check_length_accepts_every_real_envelope(alice, n):
    from tipline.format.stream import check_length

    env = seal_bytes(b"z" * n, META, [alice.public_key, alice.public_key])
    check_length(9 + 2 * 88 + 24, len(env))


@pytest.mark.parametrize("delta", [-1, 1, -17, 100])
def test_check_length_refuses_other_lengths(alice, delta):
    from tipline.format.errors import BadLength
    from tipline.format.stream import check_length

    env = seal_bytes(b"z" * 5000, META, [alice.public_key])
    with pytest.raises(BadLength):
        check_length(9 + 88 + 24, len(env) + delta)


@pytest.mark.parametrize("n", [1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
@pytest.mark.parametrize("shape", ["zeros", "ends_in_zeros", "zero_run_inside"])
def test_content_with_zero_runs(alice, n, shape):
    # The reader holds back trailing zeros (they may be padding): content
    # that itself ends in zeros must still come back whole.
    if shape == "zeros":
        data = bytes(n)
    elif shape == "ends_in_zeros":
        data = b"\x07" * (n // 2) + bytes(n - n // 2)
    else:
        data = b"\x01" + bytes(n) + b"\x02"
    assert decrypt_bytes(seal_bytes(data, META, [alice.public_key]), [alice])[1] == data

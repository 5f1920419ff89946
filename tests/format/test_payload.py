import pytest

from tipline.format.errors import MalformedPayload
from tipline.format.payload import Metadata, decode_meta


def test_encode_decode():
    m = Metadata("file", "a ünï.txt", "text/plain")
    assert decode_meta(m.encode(5)) == (m, 5)
    assert m.encode(5) == '{"v":1,"kind":"file","name":"a ünï.txt","type":"text/plain","length":5}'.encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"null",
        b"\xff\xfe",
        b'{"v":1}',
        b'{"v":2,"kind":"file","name":"","type":"","length":1}',
        b'{"v":true,"kind":"file","name":"","type":"","length":1}',
        b'{"v":1,"kind":"exe","name":"","type":"","length":1}',
        b'{"v":1,"kind":"file","name":5,"type":"","length":1}',
        b'{"v":1,"kind":"file","name":"","type":"","length":-1}',
        b'{"v":1,"kind":"file","name":"","type":"","length":1.5}',
        b'{"v":1,"kind":"file","name":"","type":"","length":1,"x":0}',
        b'{"v":1,"kind":"file","name":"","name":"","type":"","length":1}',
        b"[" * 5000,
    ],
)
def test_bad_meta(raw):
    with pytest.raises(MalformedPayload):
        decode_meta(raw)


def test_overlong_fields_refused():
    with pytest.raises(ValueError):
        Metadata("file", "x" * 1025, "")
    with pytest.raises(MalformedPayload):
        decode_meta(('{"v":1,"kind":"file","name":"' + "x" * 1025 + '","type":"","length":1}').encode())


@pytest.mark.parametrize(
    "raw",
    [
        # JSON escapes that spell lone surrogates: valid JSON, but no UTF-8 form.
        b'{"v":1,"kind":"file","name":"\\ud800","type":"","length":1}',
        b'{"v":1,"kind":"file","name":"a\\udfffb","type":"","length":1}',
        b'{"v":1,"kind":"file","name":"\\ude00\\ud83d","type":"","length":1}',
        b'{"v":1,"kind":"file","name":"a","type":"text/\\udc00","length":1}',
        # A message has no name.
        b'{"v":1,"kind":"message","name":"x.exe","type":"","length":1}',
    ],
)
def test_meta_that_no_writer_may_produce_is_refused(raw):
    with pytest.raises(MalformedPayload):
        decode_meta(raw)


def test_escaped_surrogate_pair_is_one_valid_character():
    meta, _ = decode_meta(b'{"v":1,"kind":"file","name":"\\ud83d\\ude00.png","type":"","length":1}')
    assert meta.name == "\U0001f600.png"


@pytest.mark.parametrize(
    ("kind", "name", "mtype"),
    [("file", "a\ud800.txt", ""), ("file", "a.txt", "text/\udfff"), ("message", "x", "")],
)
def test_writer_refuses_what_readers_refuse(kind, name, mtype):
    with pytest.raises(ValueError):
        Metadata(kind, name, mtype)

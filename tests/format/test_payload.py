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

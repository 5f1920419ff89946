import base64

import pytest

from tipline.format.errors import KeyFileError, WrongPassphrase
from tipline.format.keys import PublicKey, SecretKey

# Cheap Argon2 settings keep these unit tests fast; the CLI tests use the real ones.
FAST = {"opslimit": 1, "memlimit": 8192}


def test_public_key_text_roundtrip(alice):
    text = alice.public_key.to_text()
    assert PublicKey.from_text(text) == alice.public_key
    assert alice.public_key.fingerprint in text
    # Pasted with extra white space and upper-cased: still fine.
    line = text.splitlines()[-1]
    assert PublicKey.from_text("\n\n  " + line.upper().replace("TIPLINE-PUB1-", "tipline-pub1-") + "  \n")


def test_public_key_checksum_catches_a_typo(alice):
    line = alice.public_key.to_text().splitlines()[-1]
    i = len(line) - 10
    typo = line[:i] + ("a" if line[i] != "a" else "b") + line[i + 1 :]
    with pytest.raises(KeyFileError, match="checksum"):
        PublicKey.from_text(typo)


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "tipline-pub1-abc\n", "tipline-sec1-xyz\n", "tipline-pub1-" + "!" * 58],
)
def test_public_key_garbage(text):
    with pytest.raises(KeyFileError):
        PublicKey.from_text(text)


def test_two_key_lines_refused(alice, bob):
    with pytest.raises(KeyFileError):
        PublicKey.from_text(alice.public_key.to_text() + bob.public_key.to_text())


def test_fingerprint_shape_and_distinct(alice, bob):
    fp = alice.public_key.fingerprint
    assert len(fp) == 19 and fp.count(" ") == 3
    assert fp != bob.public_key.fingerprint
    assert alice.public_key.key_id != bob.public_key.key_id


def test_secret_key_roundtrip_and_wrong_passphrase(alice):
    text = alice.to_text(b"a long passphrase", **FAST)
    assert "tipline-sec1-" in text and alice.raw.hex() not in text
    assert SecretKey.from_text(text, b"a long passphrase") == alice
    with pytest.raises(WrongPassphrase):
        SecretKey.from_text(text, b"a long passphrasf")


def test_secret_key_repr_hides_key(alice):
    assert alice.raw.hex() not in repr(alice)


def _tamper(text: str, offset: int, value: bytes) -> str:
    line = text.splitlines()[-1]
    body = line[len("tipline-sec1-") :]
    blob = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    blob[offset : offset + len(value)] = value
    return "tipline-sec1-" + base64.urlsafe_b64encode(bytes(blob)).decode().rstrip("=")


def test_secret_key_refuses_absurd_work(alice):
    text = alice.to_text(b"pw pw pw pw", **FAST)
    # memlimit is at offset 11 (after magic, version, opslimit): 2**60 bytes.
    with pytest.raises(KeyFileError, match="out-of-range"):
        SecretKey.from_text(_tamper(text, 11, (2**60).to_bytes(8, "big")), b"pw pw pw pw")
    with pytest.raises(KeyFileError, match="out-of-range"):
        SecretKey.from_text(_tamper(text, 7, (10**6).to_bytes(4, "big")), b"pw pw pw pw")


def test_secret_key_damage(alice):
    text = alice.to_text(b"pw pw pw pw", **FAST)
    with pytest.raises(KeyFileError, match="version"):
        SecretKey.from_text(_tamper(text, 6, b"\x02"), b"pw pw pw pw")
    with pytest.raises(WrongPassphrase):  # a flipped ciphertext byte looks like a wrong passphrase
        SecretKey.from_text(_tamper(text, 60, b"\xff"), b"pw pw pw pw")
    with pytest.raises(KeyFileError):
        SecretKey.from_text(text.replace("tipline-sec1-", "tipline-sec1-!!"), b"pw")
    with pytest.raises(KeyFileError):
        SecretKey.from_text(text[:-20], b"pw")


@pytest.mark.parametrize("odd", ["é", "ｂ", "\u200b", "😀"])
def test_public_key_with_a_non_ascii_character(alice, odd):
    text = alice.public_key.to_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("tipline-pub1-"))
    with pytest.raises(KeyFileError, match="not part of any key"):
        PublicKey.from_text(text.replace(line, line[:30] + odd + line[31:]))

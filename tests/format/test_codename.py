"""tipline.format.codename against the committed vectors, and its own promises.

The same vectors run in Chromium (tests/browser/test_browser_codename.py), so
a codename typed with JavaScript on or off opens the same conversation.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from nacl import bindings

from tests.vectors.codename.make_vectors import WORDS_JS, words_js
from tipline.format import codename
from tipline.format.errors import BadCodename, BadInstallSalt, BadVerifier, TiplineError

VECTORS = Path(__file__).parents[1] / "vectors" / "codename"
CASES = sorted(VECTORS.glob("*.json"))
SALT = bytes(range(16))


def load(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def test_there_are_vectors_of_both_kinds():
    expects = {load(p)["expect"] for p in CASES}
    assert expects == {"ok", "BadCodename"}
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_vector(path):
    case = load(path)
    salt = bytes.fromhex(case["install_salt"])
    if case["expect"] == "BadCodename":
        with pytest.raises(BadCodename):
            codename.normalise(case["input"])
        with pytest.raises(BadCodename):
            codename.derive(case["input"], salt)
        return
    assert case["expect"] == "ok"
    assert codename.normalise(case["input"]) == case["canonical"]
    d = codename.derive(case["input"], salt)
    assert d.verifier.hex() == case["verifier"]
    assert d.verifier_hash.hex() == case["verifier_hash"]
    assert d.public_key.hex() == case["public_key"]
    # The secret key belongs to the public key, and the stored hash to the verifier.
    assert bindings.crypto_scalarmult_base(d.secret_key) == d.public_key
    assert codename.verifier_hash(d.verifier) == d.verifier_hash


def test_messy_forms_derive_like_the_canonical_one():
    canonical = load(VECTORS / "canonical.json")
    for path in CASES:
        case = load(path)
        if case["expect"] == "ok" and case["install_salt"] == canonical["install_salt"]:
            same = case["canonical"] == canonical["canonical"]
            assert (case["public_key"] == canonical["public_key"]) == same, path.stem


def test_another_installation_gives_other_keys():
    a, b = load(VECTORS / "canonical.json"), load(VECTORS / "other_installation.json")
    assert a["canonical"] == b["canonical"] and a["install_salt"] != b["install_salt"]
    assert a["verifier"] != b["verifier"] and a["public_key"] != b["public_key"]


def test_kdf_is_libsodium_kdf_blake2b():
    """crypto_kdf_derive_from_key as libsodium specifies it, checked with the stdlib's own BLAKE2b."""
    key = bytes(range(32))
    for subkey_id in (0, 1, 2, 2**64 - 1):
        for length in (16, 32, 64):
            want = hashlib.blake2b(
                b"",
                digest_size=length,
                key=key,
                salt=subkey_id.to_bytes(8, "little") + bytes(8),
                person=b"TLconv01" + bytes(8),
            ).digest()
            assert codename.kdf_derive_from_key(length, subkey_id, b"TLconv01", key) == want
    for bad in (
        (15, 1, b"TLconv01", key),
        (32, 1, b"TLconv0", key),
        (32, 1, b"TLconv01", key[:31]),
        (32, -1, b"TLconv01", key),
        (32, 2**64, b"TLconv01", key),
    ):
        with pytest.raises(ValueError):
            codename.kdf_derive_from_key(*bad)


def test_subkeys_are_independent():
    d = codename.derive(load(VECTORS / "canonical.json")["canonical"], SALT)
    assert len({d.verifier, d.secret_key, d.public_key, d.verifier_hash}) == 4


def test_word_list():
    words = codename.words()
    assert len(words) == 7772 == len(set(words))
    assert all(w.isascii() and w.isalpha() and w == w.lower() for w in words)
    assert {"drop-down", "felt-tip", "t-shirt", "yo-yo"}.isdisjoint(words)
    assert codename.WORDS * math.log2(len(words)) > 90


def test_browser_word_list_is_current():
    """codename-words.js is generated; a change to the list without a re-run fails here."""
    assert WORDS_JS.read_text("utf-8") == words_js(), "run python tests/vectors/codename/make_vectors.py"


def test_new_codename():
    made = {codename.new_codename() for _ in range(50)}
    assert len(made) == 50
    for c in made:
        assert codename.normalise(c) == c
        assert len(c.split(" ")) == 7


def test_install_salt():
    assert len(codename.new_install_salt()) == 16
    assert codename.new_install_salt() != codename.new_install_salt()
    c = codename.new_codename()
    for bad in (b"", bytes(15), bytes(17), "0" * 16, None):
        with pytest.raises(BadInstallSalt):
            codename.derive(c, bad)


def test_not_text_is_bad_codename():
    for bad in (None, 7, b"abacus " * 7, ["abacus"] * 7):
        with pytest.raises(BadCodename):
            codename.normalise(bad)


def test_verifier_must_be_32_bytes():
    for bad in (b"", bytes(31), bytes(33), "x" * 32):
        with pytest.raises(BadVerifier):
            codename.verifier_hash(bad)


def test_errors_are_tipline_errors_with_plain_messages():
    with pytest.raises(TiplineError) as e:
        codename.normalise("abacus abacus")
    assert str(e.value) == codename.NOT_SEVEN_WORDS
    with pytest.raises(TiplineError) as e:
        codename.normalise("abacus " * 6 + "tipline")
    assert str(e.value) == codename.UNKNOWN_WORD


def test_secrets_stay_out_of_repr():
    d = codename.derive(codename.new_codename(), SALT)
    assert d.secret_key.hex() not in repr(d) and repr(d.secret_key) not in repr(d)
    assert repr(d.verifier) not in repr(d)

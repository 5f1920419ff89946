"""Codenames: the words a source keeps, and what is derived from them (docs/conversations.md).

A codename is the source's only way back into a conversation. From it, and
the installation's salt, come the login verifier (what a client sends) and
the source's X25519 key pair (what replies are sealed to). The browser's
tipline/web/static/js/codename.js does exactly the same; the vectors under
tests/vectors/codename/ hold both to it.

Stdlib and PyNaCl only, like the rest of the crypto core, so that it runs
wherever the offline tool does (tests/offline/test_isolation.py checks the
imports). It loads the word list itself: tipline.store is not the core's to use.
"""

from __future__ import annotations

import functools
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from importlib.resources import files

import nacl.pwhash.argon2id
from nacl import bindings

from .errors import BadCodename, BadInstallSalt, BadVerifier

WORDS = 7
INSTALL_SALT_BYTES = 16
MAX_INPUT_CHARS = 1000  # code points; far above any codename, bounds the work on hostile input

# Argon2id cost (docs/conversations.md "Parameters" gives the measurements behind them).
OPSLIMIT = 1
MEMLIMIT = 1024 * 1024

# Whole sentences, for the pages to show (and, later, to translate).
NOT_SEVEN_WORDS = "A codename is exactly seven words. Please check what you typed against your paper."
UNKNOWN_WORD = "One of those words is not a codename word. Please check the spelling against your paper."

LABEL_SALT = b"tipline/v1/codename-salt"
LABEL_VERIFIER_HASH = b"tipline/v1/verifier-hash"
KDF_CONTEXT = b"TLconv01"
SUBKEY_VERIFIER = 1
SUBKEY_BOX_SEED = 2

# What separates words, after NFKC and lower-casing: ASCII white space, the
# Unicode line and paragraph separators, NEL, OGHAM SPACE MARK, the hyphen-minus,
# and the dashes a phone's keyboard or a word processor puts in its place.
# (NFKC has already turned no-break, en, em, thin and ideographic spaces into
# U+0020, and the fullwidth and small hyphen-minus into U+002D.) The same
# explicit class is in codename.js: Python's \s and JavaScript's \s differ.
_SEPARATORS = re.compile("[\t\n\x0b\x0c\r \x85\u1680\u2028\u2029\\-\u2010-\u2015\u2212]+")


@functools.cache
def words() -> tuple[str, ...]:
    """The codename alphabet: the EFF large wordlist less its four hyphenated words.

    Hyphens separate words on entry, so "drop-down" could not be told from
    "drop down"; leaving out drop-down, felt-tip, t-shirt and yo-yo keeps
    every entry unambiguous at a cost of under 0.001 bits a word. Loaded here rather
    than from tipline.store, which the offline tool must not import.
    """
    text = files("tipline").joinpath("data/eff_large_wordlist.txt").read_text("utf-8")
    return tuple(w for w in text.split() if "-" not in w)


@functools.cache
def _word_set() -> frozenset[str]:
    return frozenset(words())


def new_codename() -> str:
    """Seven words drawn uniformly with `secrets`: 7 * log2(7772) = 90.47 bits."""
    alphabet = words()
    return " ".join(secrets.choice(alphabet) for _ in range(WORDS))


def new_install_salt() -> bytes:
    """The per-installation salt, made once at install and published to every source."""
    return secrets.token_bytes(INSTALL_SALT_BYTES)


def normalise(text: str) -> str:
    """The canonical codename (7 words, single spaces) for what a source typed.

    Forgiving about case, spacing, line breaks and hyphens, because a codename
    is copied by hand from paper; strict about the words, because deriving
    from anything else would quietly log the source into nowhere.
    """
    if not isinstance(text, str):
        raise BadCodename(NOT_SEVEN_WORDS)
    if len(text) > MAX_INPUT_CHARS:
        raise BadCodename(NOT_SEVEN_WORDS)
    folded = unicodedata.normalize("NFKC", text).lower()
    parts = [p for p in _SEPARATORS.split(folded) if p]
    if len(parts) != WORDS:
        raise BadCodename(NOT_SEVEN_WORDS)
    known = _word_set()
    if any(p not in known for p in parts):
        raise BadCodename(UNKNOWN_WORD)
    return " ".join(parts)


def kdf_derive_from_key(subkey_len: int, subkey_id: int, context: bytes, key: bytes) -> bytes:
    """libsodium's crypto_kdf_derive_from_key (KDF-BLAKE2b), which PyNaCl does not bind.

    As libsodium's kdf_blake2b.c: BLAKE2b of the empty message, keyed with
    the 32-byte master key, salt = subkey_id as 8 little-endian bytes then 8
    zero bytes, personal = the 8-byte context then 8 zero bytes.
    """
    if not 16 <= subkey_len <= 64 or len(context) != 8 or len(key) != 32 or not 0 <= subkey_id < 2**64:
        raise ValueError("crypto_kdf: subkey of 16..64 bytes, an 8-byte context, a 32-byte key, a 64-bit id")
    salt = subkey_id.to_bytes(8, "little") + bytes(8)
    person = context + bytes(8)
    return bindings.crypto_generichash_blake2b_salt_personal(
        b"", digest_size=subkey_len, key=key, salt=salt, person=person
    )


def argon2_salt(install_salt: bytes) -> bytes:
    """The Argon2id salt: BLAKE2b-128 over a versioned label and the installation salt."""
    if not isinstance(install_salt, bytes) or len(install_salt) != INSTALL_SALT_BYTES:
        raise BadInstallSalt(f"The installation salt is exactly {INSTALL_SALT_BYTES} bytes.")
    return bindings.crypto_generichash_blake2b_salt_personal(LABEL_SALT + install_salt, digest_size=16)


def verifier_hash(verifier: bytes) -> bytes:
    """What the server stores for a verifier: BLAKE2b-256 over a label and it.

    A seized database then holds no value a client could send to log in.
    """
    if not isinstance(verifier, bytes) or len(verifier) != 32:
        raise BadVerifier("A login verifier is exactly 32 bytes.")
    return bindings.crypto_generichash_blake2b_salt_personal(LABEL_VERIFIER_HASH + verifier, digest_size=32)


@dataclass(frozen=True)
class Derived:
    """Everything a codename yields on one installation. The secrets stay out of repr."""

    verifier: bytes = field(repr=False)
    verifier_hash: bytes
    public_key: bytes
    secret_key: bytes = field(repr=False)


def derive(codename: str, install_salt: bytes) -> Derived:
    """Normalise, then derive the verifier and the key pair (docs/conversations.md "Derivation")."""
    canonical = normalise(codename).encode("utf-8")
    salt = argon2_salt(install_salt)
    master = nacl.pwhash.argon2id.kdf(32, canonical, salt, opslimit=OPSLIMIT, memlimit=MEMLIMIT)
    verifier = kdf_derive_from_key(32, SUBKEY_VERIFIER, KDF_CONTEXT, master)
    public_key, secret_key = bindings.crypto_box_seed_keypair(
        kdf_derive_from_key(32, SUBKEY_BOX_SEED, KDF_CONTEXT, master)
    )
    return Derived(verifier, verifier_hash(verifier), public_key, secret_key)

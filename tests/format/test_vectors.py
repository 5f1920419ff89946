"""Every committed vector must give exactly the outcome it states."""

import base64
import hashlib
import json
from pathlib import Path

import pytest

from tipline.format import errors
from tipline.format.keys import SecretKey
from tipline.format.stream import decrypt_bytes

VECTORS = sorted((Path(__file__).parent.parent / "vectors").glob("*.json"))


def test_there_are_vectors_of_every_outcome():
    outcomes = {json.loads(p.read_text())["expect"] for p in VECTORS}
    assert outcomes >= {
        "ok",
        "NotAnEnvelope",
        "UnsupportedVersion",
        "MalformedHeader",
        "TooManyRecipients",
        "NoMatchingKey",
        "DecryptionFailed",
        "MalformedPayload",
    }


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path):
    v = json.loads(path.read_text())
    key = SecretKey(bytes.fromhex(v["secret_key"]))
    assert key.public_key.raw.hex() == v["public_key"]
    env = base64.b64decode(v["envelope"])
    if v["expect"] == "ok":
        meta, content = decrypt_bytes(env, [key])
        assert hashlib.sha256(content).hexdigest() == v["content_sha256"]
        assert len(content) == v["content_length"]
        assert {"kind": meta.kind, "name": meta.name, "type": meta.media_type} == v["meta"]
    else:
        expected = getattr(errors, v["expect"])
        with pytest.raises(expected) as info:
            decrypt_bytes(env, [key])
        # The exact class, not a parent or a sibling subclass.
        assert type(info.value) is expected

"""`tipline onion client-auth`: Tor's client-authorization file formats, and a key pair that matches."""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from .common import onion_address, tipline

B32 = r"[A-Z2-7]{52}"


def b32decode(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def lines(out: str) -> tuple[str, str, str]:
    server = re.findall(rf"^descriptor:x25519:({B32})$", out, re.M)
    bare = re.findall(rf"^({B32})$", out, re.M)
    client = re.findall(rf"^(\S+):descriptor:x25519:({B32})$", out, re.M)
    assert len(server) == len(bare) == len(client) == 1, out
    assert client[0][1] == bare[0]
    return server[0], client[0][0], bare[0]


def test_formats_and_key_pair(tmp_path):
    onion = onion_address()
    r = tipline(
        "onion", "client-auth", "ana", "--onion-address", onion + ".onion", "--out", str(tmp_path / "o")
    )
    assert r.returncode == 0, r.stderr
    public, address, private = lines(r.stdout)
    assert address == onion
    assert len(public) == len(private) == 52  # 32 bytes, base32 upper case, no padding
    # The private key is the raw X25519 scalar: deriving its public key gives the server's line.
    derived = X25519PrivateKey.from_private_bytes(b32decode(private)).public_key().public_bytes_raw()
    assert derived == b32decode(public)
    assert "authorized_clients/ana.auth" in r.stdout

    auth, auth_private = tmp_path / "o" / "ana.auth", tmp_path / "o" / "ana.auth_private"
    assert auth.read_text() == f"descriptor:x25519:{public}\n"
    assert auth_private.read_text() == f"{onion}:descriptor:x25519:{private}\n"
    assert {auth.stat().st_mode & 0o777, auth_private.stat().st_mode & 0o777} == {0o600}

    again = tipline("onion", "client-auth", "ana", "--onion-address", onion, "--out", str(tmp_path / "o"))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert auth.read_text() == f"descriptor:x25519:{public}\n"  # not overwritten


def test_every_run_makes_a_new_pair():
    a = lines(tipline("onion", "client-auth", "ana", "--onion-address", onion_address()).stdout)
    b = lines(tipline("onion", "client-auth", "ana", "--onion-address", onion_address()).stdout)
    assert a[0] != b[0] and a[2] != b[2]


def test_address_from_hs_dir_or_placeholder(tmp_path):
    onion = onion_address()
    (tmp_path / "hostname").write_text(onion + ".onion\n")
    r = tipline("onion", "client-auth", "ana", "--hs-dir", str(tmp_path))
    assert r.returncode == 0 and lines(r.stdout)[1] == onion


def test_placeholder_when_no_address_is_known(tmp_path, monkeypatch, capsys):
    import os

    import tipline.ops.onion
    from tipline.cli import main

    monkeypatch.setattr(tipline.ops.onion, "DEFAULT_HS_DIR", tmp_path / "not-there")
    umask = os.umask(0o022)
    try:
        assert main(["onion", "client-auth", "ana"]) == 0
    finally:
        os.umask(umask)
    out, err = capsys.readouterr()
    assert lines(out)[1] == "<JOURNALIST-ONION-ADDRESS>"
    assert "replace <JOURNALIST-ONION-ADDRESS>" in err and f"{tmp_path}/not-there/hostname" in err


def test_bad_input_is_refused():
    onion = onion_address()
    typo = onion[:10] + ("a" if onion[10] != "a" else "b") + onion[11:]
    for args, message in [
        (["--onion-address", typo], "bad checksum"),
        (["--onion-address", "example.onion"], "not a v3 onion address"),
    ]:
        r = tipline("onion", "client-auth", "ana", *args)
        assert r.returncode == 1 and message in r.stderr, r.stderr
    r = tipline("onion", "client-auth", "../ana", "--onion-address", onion)
    assert r.returncode == 1 and "client name" in r.stderr

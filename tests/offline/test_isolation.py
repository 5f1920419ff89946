"""The offline tool must run on a bare air-gapped machine: stdlib + PyNaCl only."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import tipline

BLOCKED = ["flask", "werkzeug", "jinja2", "sqlalchemy", "gunicorn", "cryptography", "click", "itsdangerous"]

# Installed before anything else runs: importing any blocked package fails,
# as it would on a machine that never had it.
BLOCKER = f"""
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError("blocked for the air-gap test: " + name)
        return None
sys.meta_path.insert(0, _Block())
"""


def run_isolated(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(Path(tipline.__file__).parent.parent)]))
    code = (
        "import sys; from tipline.offline.cli import main; rc = main(sys.argv[1:]); "
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r}); "
        "print('LOADED', bad, file=sys.stderr); sys.exit(rc)"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_blocker_really_blocks(tmp_path):
    r = run_isolated(tmp_path, "--version")
    assert r.returncode == 0
    site = tmp_path / "blocker"
    probe = subprocess.run(
        [sys.executable, "-c", "import flask"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(site)),
    )
    assert probe.returncode != 0 and "blocked for the air-gap test" in probe.stderr


def test_keygen_seal_decrypt_without_server_packages(tmp_path):
    (tmp_path / "pw").write_text("an offline passphrase\n")
    r = run_isolated(
        tmp_path, "keygen", "--out", str(tmp_path / "k"), "--passphrase-file", str(tmp_path / "pw")
    )
    assert r.returncode == 0, r.stderr
    (tmp_path / "note.txt").write_text("air-gapped")
    r = run_isolated(
        tmp_path,
        "seal",
        "--to",
        str(tmp_path / "k" / "journalist.pub"),
        str(tmp_path / "note.txt"),
        "-o",
        str(tmp_path / "note.envelope"),
    )
    assert r.returncode == 0, r.stderr
    r = run_isolated(
        tmp_path,
        "decrypt",
        str(tmp_path / "note.envelope"),
        "--key",
        str(tmp_path / "k" / "journalist.key"),
        "--out",
        str(tmp_path / "out"),
        "--passphrase-file",
        str(tmp_path / "pw"),
    )
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stderr
    assert (tmp_path / "out" / "note" / "files" / "note.txt").read_text() == "air-gapped"


def test_offline_and_format_import_only_stdlib_nacl_and_format():
    """A static check too, so a lazy import inside a function cannot slip through."""
    root = Path(tipline.__file__).parent
    allowed_third_party = {"nacl"}
    for pkg in ("offline", "format"):
        for path in (root / pkg).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    ok = (
                        top in sys.stdlib_module_names
                        or top in allowed_third_party
                        or name in ("tipline", "tipline.format")
                        or name.startswith("tipline.format.")
                    )
                    if pkg == "offline" and name.startswith("tipline.offline"):
                        ok = True
                    assert ok, f"{path.name} imports {name}"


def test_decrypt_a_v2_bundle_and_reply_without_server_packages(tmp_path):
    """The committed v2 bundle decrypts, and `reply` seals from its conversation folder, air-gapped."""
    import json

    from tests.offline.bombs import cheap_key
    from tipline.format.keys import SecretKey
    from tipline.format.stream import decrypt_bytes

    vectors = Path(__file__).parent.parent / "vectors" / "bundle"
    case = json.loads((vectors / "expect.json").read_text("utf-8"))["v2"]
    key, pw = cheap_key(tmp_path, SecretKey(bytes.fromhex(case["secret_key"])))
    out = tmp_path / "out"
    r = run_isolated(tmp_path, "decrypt", str(vectors / "v2.tar"), "--key", str(key), "--out", str(out),
                     "--passphrase-file", str(pw))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stderr
    (folder,) = out.glob("conversation-*")
    (tmp_path / "m.txt").write_text("Answered on the air-gapped machine.")
    r = run_isolated(tmp_path, "reply", str(folder), "--message-file", str(tmp_path / "m.txt"),
                     "-o", str(tmp_path / "r.envelope"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stderr
    envelope = (tmp_path / "r.envelope").read_bytes()
    for secret in (case["source_secret_key"], case["secret_key"]):
        _meta, text = decrypt_bytes(envelope, [SecretKey(bytes.fromhex(secret))])
        assert text == b"Answered on the air-gapped machine."

"""`tipline demo`: show the whole path of a tip on this machine.

Until the web form lands, the demo makes a journalist key, seals a message
and a file the way the server will, bundles them, and decrypts the bundle
with the offline tool, printing each step's command.
"""

from __future__ import annotations

import secrets
import shlex
import sys
from pathlib import Path

from tipline.format.bundle import BundleWriter, SubmissionEntry, envelope_member
from tipline.format.keys import PublicKey
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes
from tipline.offline import cli as offline

DEMO_MESSAGE = "Hello from a demo source. The documents are attached.\n"


def _run(argv: list[str]) -> None:
    print("$ tipline-offline " + shlex.join(argv), flush=True)
    code = offline.main(argv)
    if code:
        raise SystemExit(code)


def run_offline_demo(folder: Path) -> int:
    folder = folder.resolve()
    keys, out = folder / "keys", folder / "decrypted"
    folder.mkdir(parents=True, exist_ok=True)
    pwfile = folder / "demo-passphrase.txt"
    if not pwfile.exists():
        pwfile.write_text("demo " + secrets.token_urlsafe(12) + "\n")
        pwfile.chmod(0o600)
    if not (keys / "journalist.key").exists():
        _run(["keygen", "--out", str(keys), "--passphrase-file", str(pwfile)])
    pub = PublicKey.from_text((keys / "journalist.pub").read_text())

    sid = secrets.token_urlsafe(12)
    items = [
        seal_bytes(DEMO_MESSAGE.encode(), Metadata("message", "", "text/plain; charset=utf-8"), [pub]),
        seal_bytes(b"%PDF-1.4 demo\n", Metadata("file", "leaked-memo.pdf", "application/pdf"), [pub]),
    ]
    bundle = folder / f"bundle-{sid}.tar"
    entry = SubmissionEntry(
        sid, "2026-01-01T00:00Z", "server", tuple(envelope_member(sid, i) for i in range(len(items)))
    )
    with open(bundle, "wb") as f:
        w = BundleWriter(f, [entry], "2026-01-01T00:00Z")
        for i, env in enumerate(items):
            import io

            w.add_envelope(envelope_member(sid, i), io.BytesIO(env), len(env))
        w.close()
    print(f"Sealed a demo submission ({len(items)} items) into {bundle}")
    _run(
        [
            "decrypt",
            str(bundle),
            "--key",
            str(keys / "journalist.key"),
            "--out",
            str(out),
            "--passphrase-file",
            str(pwfile),
        ]
    )
    print(f"\nThe message reads: {(out / sid / 'message.txt').read_text()!r}")
    print(f"Everything decrypted is under {out}/{sid}")
    return 0


if __name__ == "__main__":
    sys.exit(run_offline_demo(Path("tipline-demo")))

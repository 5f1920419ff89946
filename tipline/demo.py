"""`tipline demo`: a working tip line on this machine, with a demo key.

Makes a journalist key pair (as `tipline-offline keygen` would on the
offline machine), a data folder that trusts it, then serves the source form
on 127.0.0.1 and prints the commands that fetch and decrypt what arrives.
The demo key's passphrase sits in a file next to it: fine for a demo, never
for real use.
"""

from __future__ import annotations

import secrets
import shlex
import socket
import sys
from pathlib import Path

from tipline.offline import cli as offline


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        return name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_demo(folder: Path, port: int) -> int:
    from tipline.config import load_settings
    from tipline.server import TiplineServer
    from tipline.store.db import make_engine, make_sessions
    from tipline.store.keyring import Keyring
    from tipline.store.submissions import SubmissionStore
    from tipline.web.app import create_source_app

    folder = folder.resolve()
    keys, data = folder / "offline-keys", folder / "data"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pwfile = keys / "demo-passphrase.txt"
    if not (keys / "journalist.key").exists():
        keys.mkdir(mode=0o700, exist_ok=True)
        pwfile.write_text("demo only " + secrets.token_urlsafe(12) + "\n")
        pwfile.chmod(0o600)
        code = offline.main(["keygen", "--out", str(keys), "--passphrase-file", str(pwfile)])
        if code:
            return code
    ring = Keyring(data / "keys")
    if not ring.active():
        ring.add((keys / "journalist.pub").read_text())

    port = _free_port(port)
    settings = load_settings(data, bind=f"127.0.0.1:{port}", workers=2)
    SubmissionStore(settings.store_dir, make_sessions(make_engine(settings.db_url))).recover()

    bundle = folder / "bundle.tar"
    fetch = (
        f"rm -f {shlex.quote(str(bundle))} && "
        f"{_tool('tipline')} export --data-dir {shlex.quote(str(data))} --out {shlex.quote(str(bundle))} && "
        f"{_tool('tipline-offline')} decrypt {shlex.quote(str(bundle))} "
        f"--key {shlex.quote(str(keys / 'journalist.key'))} --passphrase-file {shlex.quote(str(pwfile))} "
        f"--out {shlex.quote(str(folder / 'decrypted'))}"
    )
    print(
        f"""
Tipline demo
  Tip line:  http://127.0.0.1:{port}/   (open it in a browser and send a tip)
  Data:      {data}   (ciphertext only)
  Demo key:  {keys}   (on a real newsroom's offline machine, never here)

To read what arrived, run in another terminal:
  {fetch}

Stop the demo with Ctrl-C.
""",
        flush=True,
    )
    TiplineServer(create_source_app, settings, {"workers": 2}).run()
    return 0

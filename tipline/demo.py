"""`tipline demo`: both sides of a working tip line on this machine, with a demo key and journalist.

Makes a journalist key pair (as `tipline-offline keygen` would on the offline
machine), a data folder that trusts it and a demo journalist account (as
`tipline journalist add` would), then serves the source app and the journalist
app on 127.0.0.1 (tipline/demo_servers.py) and prints how to sign in and the
command that fetches and decrypts what arrived. The demo key's passphrase and
the demo journalist's sign-in details sit in files in the demo folder: fine for
a demo, never for real use.
"""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tipline.offline import cli as offline

JOURNALIST = "demo"


def _free_port(preferred: int, taken: int = 0) -> int:
    with socket.socket() as s:
        try:
            if preferred == taken:
                raise OSError
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


def _write_private(path: Path, text: str) -> None:
    """Write a small secret file atomically (mode 0600), so a crash leaves the old one or none."""
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)


def _demo_journalist(settings, details: Path) -> tuple[str, str] | str:
    """(passphrase, TOTP URI) of the demo journalist, made on first run; or what to do instead."""
    from tipline.cli_common import open_accounts  # the same accounts `tipline journalist add` opens

    accounts = open_accounts(settings)
    if JOURNALIST in accounts.names():
        lines = details.read_text().splitlines() if details.exists() else []
        if len(lines) == 2:
            return lines[0], lines[1]
        return (
            f"The demo journalist exists but its sign-in details ({details}) are missing. "
            f"To start afresh, delete the demo folder {details.parent} and run the demo again."
        )
    enrolment = accounts.add(JOURNALIST)
    _write_private(details, f"{enrolment.passphrase}\n{enrolment.totp_uri}\n")
    return enrolment.passphrase, enrolment.totp_uri


def _page_options(org: str | None, lang: str | None) -> dict[str, str] | str:
    """The servers' environment for --org (the newsroom's name); or what is wrong with --org or --lang."""
    from tipline.newsroom import NewsroomError, load
    from tipline.web.i18n import available

    offered = available("source")
    if lang is not None and lang not in offered:
        return f"--lang {lang}: the source pages are offered in {', '.join(offered)}."
    if org is None:
        return {}
    try:
        load({"name": org}, offered)  # the check `tipline serve` makes of [newsroom] name
    except NewsroomError as e:
        return "--org: the name " + str(e).removeprefix("[newsroom] name ")
    return {"TIPLINE_NEWSROOM_NAME": org}


def run_demo(folder: Path, port: int, org: str | None = None, lang: str | None = None) -> int:
    """Set up (or reuse) the demo folder, serve both apps, print how to use them, and wait."""
    from tipline import demo_servers
    from tipline.cli_common import open_store, show_totp
    from tipline.config import load_settings
    from tipline.store.keyring import Keyring

    env = _page_options(org, lang)
    if isinstance(env, str):
        print(f"tipline: {env}", file=sys.stderr)
        return 2
    folder = folder.resolve()
    keys, data, logs = folder / "offline-keys", folder / "data", folder / "logs"
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

    settings = load_settings(data)
    open_store(settings)  # the tables, once, before two apps start on the same database
    account = _demo_journalist(settings, folder / "demo-journalist.txt")
    if isinstance(account, str):
        print(f"tipline: {account}", file=sys.stderr)
        return 1
    passphrase, uri = account
    secret = parse_qs(urlsplit(uri).query)["secret"][0]

    logs.mkdir(mode=0o700, exist_ok=True)
    port = _free_port(port)
    jport = _free_port(port + 1, taken=port)
    request, children = demo_servers.StopRequest(), []
    try:
        children.append(demo_servers.start(data, port, "source", logs / "source.log", request, env))
        children.append(demo_servers.start(data, jport, "journalist", logs / "journalist.log", request, env))
    except RuntimeError as e:
        demo_servers.stop(children)
        print(f"tipline: {e}", file=sys.stderr)
        return 1
    if request.asked:
        return demo_servers.wait(children, request, logs)

    bundle, out = folder / "bundle.tar", folder / "decrypted"
    fetch = (
        f"rm -f {shlex.quote(str(bundle))} && "
        f"{_tool('tipline')} export --data-dir {shlex.quote(str(data))} --out {shlex.quote(str(bundle))} && "
        f"{_tool('tipline-offline')} decrypt {shlex.quote(str(bundle))} "
        f"--key {shlex.quote(str(keys / 'journalist.key'))} --passphrase-file {shlex.quote(str(pwfile))} "
        f"--out {shlex.quote(str(out))}"
    )
    print(
        f"""
Tipline demo: both sides of a tip line, on this machine only.

  Source side:      http://127.0.0.1:{port}/{lang + "/" if lang else ""}
  Journalist side:  http://127.0.0.1:{jport}/
  Journalist name:  {JOURNALIST}
  Passphrase:       {passphrase}
  (Demo only: these sign-in details are kept in {folder / "demo-journalist.txt"}.
  A real journalist's passphrase is given to them privately and never stored.)
""",
        flush=True,
    )
    show_totp(uri)
    print(
        f"""Secret:           {secret}

Send a tip on the source side and keep the codename it shows. Sign in on the
journalist side, open the tip and reply. Back on the source side, choose
"Read replies / continue" and enter the codename to read the reply.

To decrypt everything that arrived, run in another terminal:
  {fetch}
Each conversation lands in its own folder in {out} (thread.txt reads it in order).

  Data:      {data}   (ciphertext only)
  Demo key:  {keys}   (on a real newsroom's offline machine, never here)
  Logs:      {logs}
To start afresh, stop the demo and delete {folder}.

Stop the demo with Ctrl-C.
""",
        flush=True,
    )
    return demo_servers.wait(children, request, logs)

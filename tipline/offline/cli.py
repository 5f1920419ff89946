"""tipline-offline: keygen, fingerprint, seal, decrypt and reply on the air-gapped machine.

Exit codes (docs/offline.md): 0 success, 1 a problem with files or the
system, 2 usage, 3 wrong passphrase or bad key file, 4 not a recipient,
5 damaged input. When inputs fail in different ways, damaged input wins,
then a local problem, then "not a recipient". SIGTERM and SIGHUP stop it as
Ctrl-C does: what was finished is kept, nothing partial is.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import mimetypes
import os
import re
import signal
import sys
import threading
from pathlib import Path

from tipline import __version__
from tipline.format.errors import KeyFileError, TiplineError, WrongPassphrase
from tipline.format.keys import PublicKey, SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import EnvelopeWriter

from .decrypt import DecryptJob, Summary
from .progress import Progress
from .reply import ReplyError, write_reply

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PASSPHRASE, EXIT_NOT_RECIPIENT, EXIT_DAMAGED = 0, 1, 2, 3, 4, 5
MIN_PASSPHRASE = 10
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is so clean-up runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: object) -> None:
    # A second signal must not cut the clean-up of the first one short.
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


class Fail(Exception):
    """A problem to report on one line, with the exit code to use."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _read_passphrase_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise Fail(f"Cannot read the passphrase file {path}: {e.strerror}.") from None
    # The first line is the passphrase; a trailing newline is not part of it.
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def _new_passphrase(args: argparse.Namespace) -> bytes:
    if args.passphrase_file:
        pw = _read_passphrase_file(args.passphrase_file)
    else:
        if not sys.stdin.isatty():
            raise Fail("No terminal to ask for a passphrase on; use --passphrase-file FILE.", EXIT_USAGE)
        pw = getpass.getpass("Passphrase for the new secret key: ").encode()
        if getpass.getpass("The same passphrase again: ").encode() != pw:
            raise Fail("The two passphrases differ; nothing was written. Run keygen again.", EXIT_USAGE)
    if len(pw.decode("utf-8", "replace")) < MIN_PASSPHRASE:
        raise Fail(
            f"That passphrase is shorter than {MIN_PASSPHRASE} characters. "
            "Use several random words; nothing was written.",
            EXIT_USAGE,
        )
    return pw


def _load_secret(args: argparse.Namespace) -> SecretKey:
    try:
        text = args.key.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise Fail(f"Cannot read the secret key file {args.key}: {e}.") from None
    if args.passphrase_file:
        pw = _read_passphrase_file(args.passphrase_file)
    elif sys.stdin.isatty():
        pw = getpass.getpass(f"Passphrase for {args.key.name}: ").encode()
    else:
        raise Fail("No terminal to ask for the passphrase on; use --passphrase-file FILE.", EXIT_USAGE)
    try:
        return SecretKey.from_text(text, pw)
    except WrongPassphrase:
        raise Fail(
            f"The passphrase does not open {args.key}. Check it and try again "
            "(if it is surely right, the key file is damaged: use your backup copy).",
            EXIT_PASSPHRASE,
        ) from None
    except KeyFileError as e:
        raise Fail(f"{args.key}: {e}", EXIT_PASSPHRASE) from None


def _load_public(path: Path) -> PublicKey:
    try:
        return PublicKey.from_text(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise Fail(f"Cannot read the public key file {path}: {e}.") from None
    except KeyFileError as e:
        raise Fail(f"{path}: {e}", EXIT_USAGE) from None


def _write_new(path: Path, data: str, mode: int) -> None:
    """Create a file that must not exist yet, with the given permissions."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# -- commands -------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    if not NAME.match(args.name):
        raise Fail("--name takes letters, digits, dots, dashes and underscores only.", EXIT_USAGE)
    args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
    pub, sec = args.out / f"{args.name}.pub", args.out / f"{args.name}.key"
    for p in (pub, sec):
        if p.exists():
            raise Fail(f"{p} already exists; keygen never overwrites a key. Choose another --name or --out.")
    pw = _new_passphrase(args)
    key = SecretKey.generate()
    _write_new(sec, key.to_text(pw), 0o600)
    _write_new(pub, key.public_key.to_text(), 0o644)
    print(f"Secret key:  {sec} (keep it on this machine; back it up offline)")
    print(f"Public key:  {pub} (give this to the Tipline server's admin)")
    print(f"Fingerprint: {key.public_key.fingerprint}")
    return EXIT_OK


def cmd_fingerprint(args: argparse.Namespace) -> int:
    print(_load_public(args.file).fingerprint)
    return EXIT_OK


def cmd_seal(args: argparse.Namespace) -> int:
    recipients = [_load_public(p) for p in args.to]
    if args.output.exists():
        raise Fail(f"{args.output} already exists; choose another -o.")
    if args.message:
        meta = Metadata("message", "", "text/plain; charset=utf-8")
    else:
        mtype = mimetypes.guess_type(args.file.name)[0] or "application/octet-stream"
        meta = Metadata("file", args.file.name, mtype)
    tmp = args.output.with_name(f".{args.output.name}.part")
    try:
        with open(args.file, "rb") as src, open(tmp, "xb") as out:
            w = EnvelopeWriter(out, recipients)
            while block := src.read(1 << 20):
                w.write(block)
            size = w.close(meta)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, args.output)  # no clobbering
    except OSError as e:
        raise Fail(f"Could not seal {args.file}: {e.strerror or e}.") from None
    finally:
        tmp.unlink(missing_ok=True)
    print(f"Sealed {args.file} to {len(recipients)} recipient(s): {args.output} ({size} bytes)")
    return EXIT_OK


def cmd_reply(args: argparse.Namespace) -> int:
    try:
        cid, count, size, unlisted = write_reply(args.folder, args.message_file, args.output)
    except ReplyError as e:
        raise Fail(str(e), e.code) from None
    for key in unlisted:
        _say(
            f"tipline-offline: warning: the newest bundle's newsroom keys do not include your key "
            f"{key.fingerprint}, the key this folder was decrypted with. The reply is sealed to it as well, "
            "so you can read it. If your key is still active on the server, the bundle may have been "
            "tampered with: tell your admin before you upload the reply."
        )
    print(
        f"Sealed a reply in conversation {cid} to its source and {count - 1} newsroom key(s): "
        f"{args.output} ({size} bytes). Upload it on the conversation's page in the journalist app."
    )
    return EXIT_OK


def cmd_decrypt(args: argparse.Namespace) -> int:
    for p in args.inputs:
        if not p.exists():
            raise Fail(f"{p} does not exist.", EXIT_USAGE)
    key = _load_secret(args)
    files = DecryptJob.expand(args.inputs)
    progress = Progress(sum(p.stat().st_size for p in files))
    job = DecryptJob(args.out, [key], progress)
    try:
        summary = job.run(args.inputs)
    except OSError as e:
        progress.end()
        raise Fail(
            f"Stopped: {e.strerror or e} ({e.filename or args.out}). "
            "What was already decrypted is complete; run again to continue."
        ) from None
    progress.end()
    return _report(summary, args.out)


def _report(s: Summary, out: Path) -> int:
    for f in s.failures:
        print(f"{f.label}: {f.message}", file=sys.stderr)
    replies = f" and {len(s.replies)} reply(ies)" if s.replies else ""
    parts = [f"decrypted {s.decrypted} item(s) from {len(s.submissions)} submission(s){replies} into {out}"]
    if s.skipped:
        parts.append(f"skipped {s.skipped} already decrypted")
    if s.failures:
        parts.append(f"{len(s.failures)} failed")
    print("Done: " + "; ".join(parts) + ".")
    if s.damaged:
        print("Some input is damaged: ask for a fresh export of those submissions.", file=sys.stderr)
        return EXIT_DAMAGED
    if s.local_problem:
        print("Some items could not be written here: fix that and run again.", file=sys.stderr)
        return EXIT_ERROR
    if s.not_recipient:
        print("Some input was not sealed to your key: check you used the right key file.", file=sys.stderr)
        return EXIT_NOT_RECIPIENT
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tipline-offline",
        description="Tipline's offline tool: make keys, decrypt submissions and seal replies, air-gapped.",
    )
    p.add_argument("--version", action="version", version=f"tipline-offline {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    k = sub.add_parser("keygen", help="make a journalist key pair")
    k.add_argument("--out", type=Path, required=True, help="folder for the key files")
    k.add_argument("--name", default="journalist", help="file name stem (default: journalist)")
    k.add_argument("--passphrase-file", type=Path, help="read the passphrase from this file's first line")
    k.set_defaults(func=cmd_keygen)

    f = sub.add_parser("fingerprint", help="print a public key's fingerprint")
    f.add_argument("file", type=Path, help="a .pub file")
    f.set_defaults(func=cmd_fingerprint)

    s = sub.add_parser("seal", help="encrypt a file into an envelope")
    s.add_argument("file", type=Path)
    s.add_argument("--to", type=Path, action="append", required=True, help="recipient .pub file (repeat)")
    s.add_argument("-o", "--output", type=Path, required=True, help="envelope to write (must not exist)")
    s.add_argument("--message", action="store_true", help="mark the content as a message, not a file")
    s.set_defaults(func=cmd_seal)

    d = sub.add_parser("decrypt", help="decrypt envelopes, folders of envelopes, or bundles")
    d.add_argument("inputs", type=Path, nargs="+", metavar="INPUT")
    d.add_argument("--key", type=Path, required=True, help="your .key file")
    d.add_argument("--out", type=Path, required=True, help="folder for the decrypted submissions")
    d.add_argument("--passphrase-file", type=Path, help="read the passphrase from this file's first line")
    d.set_defaults(func=cmd_decrypt)

    r = sub.add_parser("reply", help="seal a reply in a conversation decrypt wrote (no secret key)")
    r.add_argument("folder", type=Path, metavar="FOLDER", help="a conversation-<id> folder from decrypt")
    r.add_argument("--message-file", type=Path, required=True, help="the reply's text, UTF-8, up to 64 KiB")
    r.add_argument("-o", "--output", type=Path, required=True, help="envelope to write (must not exist)")
    r.set_defaults(func=cmd_reply)
    return p


def _say(text: str) -> None:
    # After SIGHUP the terminal may be gone: a last message must not crash.
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Handlers only where Python allows them (the main thread), and put back
    # afterwards, so main() can also be called from inside another program.
    own = threading.current_thread() is threading.main_thread()
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)} if own else {}
    for s in (signal.SIGTERM, signal.SIGHUP) if own else ():
        signal.signal(s, _on_signal)
    try:
        return _run(args)
    finally:
        for s, handler in before.items():
            if handler is not None:
                signal.signal(s, handler)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except Fail as e:
        _say(f"tipline-offline: {e}")
        return e.code
    except TiplineError as e:
        _say(f"tipline-offline: {e}")
        return EXIT_DAMAGED
    except KeyboardInterrupt as e:
        _say("\ntipline-offline: interrupted; nothing partial was kept. Run again to finish.")
        return 128 + e.signum if isinstance(e, Interrupted) else 130


if __name__ == "__main__":
    sys.exit(main())

"""Tipline installed in a Machine by running docs/install.md's commands, one by one, as written.

The only changes to the text are its documented placeholders (where Tipline's source or release
comes from). What the container cannot do offline is said where it happens: see OFFLINE.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyotp

from tests.system.install_doc import commands
from tests.system.machine import Machine, MachineError
from tests.system.release import Release

VENV_BIN = "/opt/tipline/venv/bin"
JOURNALIST = "ana"  # the account the next steps make, for NAME
# Commands that need the Tor network, which the container never has, and how each fails then:
# client-auth writes the key for tor and waits for tor's descriptor, which tor builds only once it
# is on the network; it sees that tor is off the network and getting nowhere (tipline.ops.tor_network)
# and stops early. The key file is in place; checked by test_onion_key_written_offline.
OFFLINE = {"onion client-auth": "tor is not connected to the Tor network"}


@dataclass
class Step:
    command: str
    returncode: int
    output: str
    seconds: float = 0.0


@dataclass
class Installed:
    steps: list[Step] = field(default_factory=list)
    journalist: str = ""
    passphrase: str = ""
    totp: pyotp.TOTP | None = None

    def failed(self) -> list[Step]:
        """Steps that failed, except the documented offline failures (with exactly their message)."""
        return [
            s
            for s in self.steps
            if s.returncode != 0
            and not any(what in s.command and why in s.output for what, why in OFFLINE.items())
        ]


def install(m: Machine, doc: Path, repo: Path, release: Release, journalist_pub: str) -> Installed:
    """Run every command of DOC's install block in the container, as root in /root, in order."""
    placeholders = release.place(doc.read_text("utf-8"), repo, m.root)
    m.write("/root/journalist.pub", journalist_pub.encode(), 0o644)
    done = Installed()
    for cmd in commands(doc, placeholders):
        _step(m, done, cmd)
    if not done.journalist:  # the document leaves accounts to the next steps the install prints
        for cmd in next_steps("\n".join(s.output for s in done.steps)):
            _step(m, done, cmd)
    return done


def next_steps(output: str, name: str = JOURNALIST) -> list[str]:
    """The commands `tipline install` printed as next steps that make a journalist's account and
    client authorization, with NAME filled in: what an admin does next, in that order."""
    wanted = (" journalist add NAME", "onion client-auth NAME")
    found = [line.strip() for line in output.splitlines() if any(w in line for w in wanted)]
    cmds = [c.replace("NAME", name) for c in found if not c.startswith(("problem:", "warning:"))]
    return list(dict.fromkeys(cmds))


def _step(m: Machine, done: Installed, cmd: str) -> None:
    t = time.monotonic()
    try:
        r = m.run(cmd, check=False, timeout=900)
        step = Step(cmd, r.returncode, r.stdout + r.stderr)
    except subprocess.TimeoutExpired as e:
        step = Step(cmd, -1, f"timed out: {e}")
    step.seconds = time.monotonic() - t
    done.steps.append(step)
    if " journalist add " in cmd and step.returncode == 0:
        _read_enrolment(done, step.output)


def _read_enrolment(done: Installed, output: str) -> None:
    """The name, passphrase and TOTP secret that `tipline journalist add` printed for the admin."""
    name = re.search(r"^Added journalist (\S+)\.$", output, re.M)
    word = re.search(r"^Passphrase \(.*?\): (.+)$", output, re.M)
    uri = re.search(r"^(otpauth://\S+)$", output, re.M)
    if not (name and word and uri):
        raise MachineError(f"`tipline journalist add` printed no enrolment:\n{output}")
    done.journalist, done.passphrase, done.totp = (
        name.group(1),
        word.group(1).strip(),
        pyotp.parse_uri(uri.group(1)),
    )


def main_pid(m: Machine, unit: str) -> int:
    return int(m.run(f"systemctl show -P MainPID {unit}").stdout.strip())


def children(m: Machine, pid: int) -> set[int]:
    """The PIDs (as the container sees them) whose parent is PID: a gunicorn master's workers."""
    out = m.run(f"cat /proc/{pid}/task/*/children", check=False).stdout.split()
    return {int(p) for p in out}


def status_fields(m: Machine, pid: int) -> dict[str, str]:
    text = m.run(f"cat /proc/{pid}/status").stdout
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def export_bundle(m: Machine, name: str) -> Path:
    """`tipline export` as the journalist app's user (docs/install.md), copied out to the host."""
    inside = f"/var/tmp/{name}.tar"
    export = f"{VENV_BIN}/tipline export --data-dir /var/lib/tipline --out {inside}"
    m.run(f"rm -f {inside} && runuser -u tipline-journalist -- {export}")
    return m.root / inside.lstrip("/")

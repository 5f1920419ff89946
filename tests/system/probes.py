"""Honest probes of a unit's sandbox inside the booted machine.

- System calls: the unit's own file, copied under another name with only its start command (and
  Type) changed, runs a probe that makes calls which succeed for the same user outside the sandbox
  and which the unit's SystemCallFilter= refuses. systemd builds that copy's seccomp filter from the
  same lines, as it does for the unit; the live processes' Seccomp: 2 is checked on its own.
- IP firewall: a process moved into the running unit's own cgroup, where systemd's BPF program
  (IPAddressDeny=any, IPAddressAllow=localhost) sits, connects to an address on an interface of the
  container's private network, and to loopback.
"""

from __future__ import annotations

import json
import subprocess

from tests.system.machine import Machine

PROBE_PATH = "/usr/local/lib/tipline-probe.py"
PROBE = r"""
import json, os, socket, sys
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except TimeoutError:
        out[name] = "timed out"  # no answer at all: the packets were dropped
    except OSError as e:
        out[name] = os.strerror(e.errno)
# In ~@resources and ~@privileged respectively; both allowed to an unprivileged process otherwise.
attempt("sched_setaffinity", lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)))
attempt("setuid", lambda: os.setuid(os.getuid()))
for host in sys.argv[1:]:
    def connect(host=host):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect((host, 9))
        finally:
            s.close()
    attempt(f"connect {host}", connect)
print(json.dumps(out))
"""
# An address of the container's own private network (a dummy interface the harness adds): never
# routed anywhere, and the container has no route out in any case.
PRIVATE_ADDRESS = "192.0.2.1"


def install_probe(m: Machine) -> None:
    m.write(PROBE_PATH, PROBE.encode(), 0o644)


def add_private_address(m: Machine) -> None:
    """A non-loopback address inside the container's network namespace: on a dummy interface, or
    where the kernel has no dummy driver, on the namespace's own loopback device (an address
    outside 127.0.0.0/8 all the same, so IPAddressAllow=localhost does not cover it)."""
    ns = ["nsenter", f"--target={m.leader}", "--net", "--", "ip"]
    dev = "tl-probe0"
    if subprocess.run([*ns, "link", "add", dev, "type", "dummy"], capture_output=True, timeout=30).returncode:
        dev = "lo"
    subprocess.run([*ns, "addr", "add", f"{PRIVATE_ADDRESS}/32", "dev", dev], check=True, timeout=30)
    subprocess.run([*ns, "link", "set", dev, "up"], check=True, timeout=30)


def probe_copy(m: Machine, unit: str) -> dict[str, str]:
    """Run the probe under a copy of UNIT's file (its sandbox lines unchanged); what it could do."""
    text = m.run(f"cat /etc/systemd/system/{unit}.service").stdout
    lines, section = [], ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line
        if section == "[Install]":
            continue
        if line.startswith("Type="):
            line = "Type=oneshot"
        elif line.startswith("ExecStart="):
            line = f"ExecStart=/opt/tipline/venv/bin/python {PROBE_PATH}"
        elif line.startswith(("ExecReload=", "Restart=", "RestartSec=", "NotifyAccess=")):
            continue
        lines.append(line)
    lines.insert(lines.index("[Service]") + 1, f"StandardOutput=truncate:/run/{unit}-probe.json")
    m.write(f"/etc/systemd/system/{unit}-probe.service", "\n".join(lines).encode() + b"\n", 0o644)
    m.run(f"systemctl daemon-reload && systemctl start {unit}-probe.service")
    return json.loads(m.run(f"cat /run/{unit}-probe.json").stdout)


def probe_as(m: Machine, user: str, *hosts: str) -> dict[str, str]:
    """The same probe as USER with no sandbox, outside any unit: the control."""
    r = m.run(f"runuser -u {user} -- /opt/tipline/venv/bin/python {PROBE_PATH} {' '.join(hosts)}")
    return json.loads(r.stdout)


def probe_in_cgroup(m: Machine, unit: str, user: str, *hosts: str) -> dict[str, str]:
    """The probe as USER in the running UNIT's own cgroup, under its IP firewall."""
    cg = m.run(f"systemctl show -P ControlGroup {unit}").stdout.strip()
    base = (
        "/sys/fs/cgroup/unified"
        if m.run("test -d /sys/fs/cgroup/unified", check=False).returncode == 0
        else ""
    )
    base = base or "/sys/fs/cgroup"
    r = m.run(
        f"echo $$ > {base}{cg}/cgroup.procs && "
        f"exec runuser -u {user} -- /opt/tipline/venv/bin/python {PROBE_PATH} {' '.join(hosts)}"
    )
    return json.loads(r.stdout)

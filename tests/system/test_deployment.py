"""The deployment, booted: Debian 12 with systemd as PID 1 in a container, Tipline installed by
running docs/install.md's commands as written, then checked as a newsroom would rely on it.

One machine for the module, checked in order; the last test reboots it. It has no network at all
(docs/system-tests.md): tor runs but never reaches the Tor network, so the apps are reached on the
container's loopback, where tor would forward to them.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import pytest

from tests.conftest import decrypt_with
from tests.system import client
from tests.system.conftest import INSTALL_DOC, REPO
from tests.system.deployment import (
    VENV_BIN,
    Installed,
    children,
    export_bundle,
    install,
    main_pid,
    status_fields,
)
from tests.system.machine import Machine
from tests.system.phases import PHASES, phase
from tests.system.probes import (
    PRIVATE_ADDRESS,
    add_private_address,
    install_probe,
    probe_as,
    probe_copy,
    probe_in_cgroup,
)

APPS = {"tipline-source": "tipline-source", "tipline-journalist": "tipline-journalist"}  # unit: user
ACKED: list[str] = []  # every tip the source app acknowledged (200), by message
LOGINS: list[int] = []  # the TOTP time steps already used to log in


@pytest.fixture(scope="module")
def machine(image, tmp_path_factory):
    with Machine(image, tmp_path_factory.mktemp("system") / "root") as m:
        with phase("boot"):
            m.boot()
        yield m


@pytest.fixture(scope="module")
def installed(machine, release, keydir) -> Installed:
    with phase("install (docs/install.md)"):
        done = install(machine, INSTALL_DOC, REPO, release, (keydir / "journalist.pub").read_text())
    for i, step in enumerate(done.steps, 1):
        if step.seconds >= 5:
            PHASES[f"  install step {i}: {step.command[:60]}"] = step.seconds
    install_probe(machine)
    add_private_address(machine)
    return done


def tip(m: Machine, message: str) -> None:
    r = m.in_netns(lambda: client.send_tip(message))
    assert r.status == 200, (r.status, r.body[:300])
    ACKED.append(message)


def decrypted_messages(keydir, tmp_path, bundle) -> list[str]:
    out = tmp_path / f"out-{bundle.stem}"
    r = decrypt_with(keydir, out, bundle)
    assert r.returncode == 0, r.stderr
    return [p.read_text() for p in out.glob("**/message.txt")]


def download(m: Machine, installed: Installed, tmp_path, keydir) -> list[str]:
    """Log in to the journalist app with passphrase and TOTP, download what is new, decrypt it on
    the host with the real offline tool. A TOTP code is good once: wait for a step not used yet."""
    totp = installed.totp
    wait_for("a TOTP step not used yet", lambda: totp.timecode(time.time()) not in LOGINS, 35)
    LOGINS.append(totp.timecode(time.time()))
    bundle = tmp_path / f"web-{len(LOGINS)}.tar"
    bundle.write_bytes(
        m.in_netns(lambda: client.download_new(installed.journalist, installed.passphrase, totp))
    )
    return decrypted_messages(keydir, tmp_path, bundle)


def wait_for(what: str, check, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not so after {timeout:.0f} s")
        time.sleep(0.5)


def test_every_install_command_succeeds(installed):
    failed = [f"$ {s.command}\n(exit {s.returncode}) {s.output[-2000:]}" for s in installed.failed()]
    assert not failed, "\n\n".join(failed)
    assert installed.journalist and installed.totp, "no journalist enrolment was printed"


def test_onion_key_written_offline(machine, installed):
    """client-auth cannot confirm without the Tor network; it has given tor the key, says so, and
    still hands out the key's private half (else tor would trust a key that nobody holds)."""
    step = next(s for s in installed.steps if "onion client-auth" in s.command)
    name = step.command.split("client-auth", 1)[1].split()[0]
    path = f"/var/lib/tor/tipline-journalist/authorized_clients/{name}.auth"
    assert f"Wrote {path}" in step.output and "tipline onion reload" in step.output, step.output
    assert machine.run(f"stat -c '%U %a' {path}").stdout.split() == ["debian-tor", "600"]
    server = machine.run(f"cat {path}").stdout.strip()
    assert server.startswith("descriptor:x25519:")
    out = step.command.split("--out", 1)[1].split()[0]
    assert machine.run(f"cat {out}/{name}.auth").stdout.strip() == server
    private = machine.run(f"cat {out}/{name}.auth_private").stdout.strip()
    assert ":descriptor:x25519:" in private and private.split(":")[-1] in step.output


def test_tor_and_both_apps_start(machine, installed):
    for unit in ("tor@default", *APPS):
        assert machine.run(f"systemctl is-active {unit}", check=False).stdout.strip() == "active", unit
    for service in ("tipline-source", "tipline-journalist"):
        assert machine.read(f"/var/lib/tor/{service}/hostname").decode().strip().endswith(".onion")
    toml = machine.read("/var/lib/tipline/tipline.toml").decode()
    assert machine.read("/var/lib/tor/tipline-source/hostname").decode().strip() in toml


def test_tip_accepted_and_journalist_bundle_decrypts(machine, installed, keydir, tmp_path):
    message = f"system test tip {secrets.token_hex(6)} ✓"
    tip(machine, message)
    assert [message] == ACKED  # the first tip of the module
    assert download(machine, installed, tmp_path, keydir) == [message]


@pytest.mark.parametrize("unit", APPS)
def test_unit_processes_are_sandboxed(machine, installed, unit):
    """Master and every worker: no capabilities, no new privileges, a seccomp filter."""
    master = main_pid(machine, unit)
    pids = {master, *children(machine, master)}
    assert len(pids) > 1, "no workers"
    for pid in pids:
        st = status_fields(machine, pid)
        assert st["CapEff"].strip() == "0000000000000000", (pid, st["CapEff"])
        assert st["CapPrm"].strip() == "0000000000000000", (pid, st["CapPrm"])
        assert st["NoNewPrivs"].strip() == "1", pid
        assert st["Seccomp"].strip() == "2", pid  # filter mode


@pytest.mark.parametrize("unit", APPS)
def test_seccomp_filter_refuses_calls(machine, installed, unit):
    outside = probe_as(machine, APPS[unit])
    assert outside == {"sched_setaffinity": "ok", "setuid": "ok"}
    inside = probe_copy(machine, unit)
    assert inside == {"sched_setaffinity": "Operation not permitted", "setuid": "Operation not permitted"}


@pytest.mark.parametrize("unit", APPS)
def test_ip_firewall_drops_non_loopback(machine, installed, unit):
    hosts = (PRIVATE_ADDRESS, "127.0.0.1")
    outside = probe_as(machine, APPS[unit], *hosts)
    # Reachable outside the unit: nothing listens on port 9, so the kernel answers with a refusal.
    assert outside[f"connect {PRIVATE_ADDRESS}"] == "Connection refused"
    inside = probe_in_cgroup(machine, unit, APPS[unit], *hosts)
    # Dropped by the unit's BPF firewall: refused at once (EPERM), or the SYN never leaves (no answer).
    assert inside[f"connect {PRIVATE_ADDRESS}"] in ("Operation not permitted", "timed out")
    assert inside["connect 127.0.0.1"] == "Connection refused"  # loopback still allowed


@pytest.mark.parametrize("unit", APPS)
def test_reload_replaces_workers_and_keeps_serving(machine, installed, unit):
    port = client.SOURCE_PORT if unit == "tipline-source" else client.JOURNALIST_PORT
    master = main_pid(machine, unit)
    old = children(machine, master)
    machine.run(f"systemctl reload {unit}")
    new = wait_for("new workers after reload", lambda: (c := children(machine, master)) and not c & old and c)
    assert new and main_pid(machine, unit) == master
    assert machine.run(f"systemctl is-active {unit}").stdout.strip() == "active"
    path = "/" if unit == "tipline-source" else "/login"
    assert machine.in_netns(lambda: client.get(port, path)) == 200
    if unit == "tipline-source":
        tip(machine, f"after reload {secrets.token_hex(4)}")


def test_sigkill_of_master_restarts_and_loses_no_tip(machine, installed, keydir, tmp_path):
    for i in range(3):
        tip(machine, f"before the kill {i} {secrets.token_hex(4)}")
    unit = "tipline-source"
    master = main_pid(machine, unit)
    restarts = int(machine.run(f"systemctl show -P NRestarts {unit}").stdout)
    machine.run(f"systemctl kill --signal=SIGKILL --kill-whom=main {unit}")
    wait_for(
        "restarted by systemd",
        lambda: (
            machine.run(f"systemctl show -P NRestarts {unit}").stdout.strip() == str(restarts + 1)
            and machine.run(f"systemctl is-active {unit}", check=False).stdout.strip() == "active"
        ),
    )
    assert main_pid(machine, unit) != master
    tip(machine, f"after the restart {secrets.token_hex(4)}")
    got = decrypted_messages(keydir, tmp_path, export_bundle(machine, "after-kill"))
    assert sorted(got) == sorted(ACKED)


def test_purge_and_notify_timers_run(machine, installed):
    """The timers are loaded and enabled by the install, and their services run to success
    when started as the timers start them; the clock is the host's, so it is not moved."""
    timers = machine.run("systemctl list-timers --all --no-legend --plain").stdout
    for timer in ("tipline-purge.timer", "tipline-notify.timer"):
        assert timer in timers, timers
        assert machine.run(f"systemctl is-enabled {timer}").stdout.strip() == "enabled", timer
    for service in ("tipline-purge.service", "tipline-notify.service"):
        machine.run(f"systemctl start {service}")
        props = machine.run(f"systemctl show -P Result {service}; systemctl show -P ExecMainStatus {service}")
        assert props.stdout.split() == ["success", "0"], (service, props.stdout)


def test_journal_holds_no_address_or_user_agent(machine, installed):
    assert ACKED, "the journal check needs the requests of the tests above"
    journal = machine.run_bytes("journalctl -o export --no-pager")  # fields may be binary
    assert b"tipline-source" in journal and b"Booting worker" in journal  # the apps' own lines are there
    assert client.CLIENT_ADDRESS.encode() not in journal
    assert client.USER_AGENT.split()[-1].strip("()").encode() not in journal
    assert b"TiplineSystemTest" not in journal


def onion_state(m: Machine) -> dict[str, str]:
    state = {}
    for service in ("tipline-source", "tipline-journalist"):
        d = f"/var/lib/tor/{service}"
        state[service] = m.read(f"{d}/hostname").decode().strip()
        state[f"{service} key"] = hashlib.sha256(m.read(f"{d}/hs_ed25519_secret_key")).hexdigest()
    return state


def test_reboot_keeps_everything(machine, installed, keydir, tmp_path):
    onions = onion_state(machine)
    journalists = machine.run(
        f"runuser -u tipline-journalist -- {VENV_BIN}/tipline journalist list --data-dir /var/lib/tipline"
    ).stdout
    with phase("reboot"):
        state = machine.reboot()
    assert state.splitlines()[0] in ("running", "degraded"), state
    for unit in ("tor@default", *APPS):
        assert machine.run(f"systemctl is-active {unit}", check=False).stdout.strip() == "active", unit
    assert onion_state(machine) == onions
    after = machine.run(
        f"runuser -u tipline-journalist -- {VENV_BIN}/tipline journalist list --data-dir /var/lib/tipline"
    ).stdout
    assert after == journalists and installed.journalist in after
    got = decrypted_messages(keydir, tmp_path, export_bundle(machine, "after-reboot"))
    assert sorted(got) == sorted(ACKED)
    # The journalist still logs in (a fresh code: each is good once) and downloads what is new.
    tip(machine, f"after the reboot {secrets.token_hex(4)}")
    assert sorted(download(machine, installed, tmp_path, keydir)) == sorted(ACKED[1:])  # all but the first

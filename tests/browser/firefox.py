"""Firefox ESR at Tor Browser's "Safer" level, driven through Marionette without geckodriver.

Tor Browser is Firefox ESR, so Debian's firefox-esr is the nearest stand-in for it that a
test can run. Safer turns off both JITs and WebAssembly and resists fingerprinting; these are
the prefs that matter to the page's crypto (libsodium falls back to its plain-JS build).

Every other pref here keeps the browser off the network: tests never reach a real one. The
browser is also pointed at a trap proxy on loopback. Firefox sends loopback addresses
directly (network.proxy.allow_hijacking_localhost stays false), so the tip line on 127.0.0.1
works, and anything else it tries (an update check, telemetry, remote settings) goes to the
trap instead of the network. The trap answers 403 and keeps the host it was asked for, and the
tests check it was asked for nothing. With no proxy at all, an attempt would either go out
or fail quietly in DNS, and no test could tell.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socketserver
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

FIREFOX = os.environ.get("TIPLINE_FIREFOX") or shutil.which("firefox-esr") or "firefox-esr"
STARTUP_TIMEOUT = 90  # s: a cold start on a busy 2-core machine

# Tor Browser's "Safer" security level: what its security-level module sets at Safer (no JIT, no
# WebAssembly or asm.js, regular expressions interpreted, no MathML, no SVG or Graphite fonts), and
# privacy.resistFingerprinting, which Tor Browser has on at every level. NoScript's part of Safer
# (script blocked on plain-HTTP sites) does not apply: a tip line is an .onion, which it trusts.
SAFER: dict[str, object] = {
    "javascript.options.ion": False,
    "javascript.options.baselinejit": False,
    "javascript.options.native_regexp": False,
    "javascript.options.asmjs": False,
    "javascript.options.wasm": False,
    "mathml.disabled": True,
    "gfx.font_rendering.graphite.enabled": False,
    "gfx.font_rendering.opentype_svg.enabled": False,
    "privacy.resistFingerprinting": True,
}

# Nothing the browser does by itself may reach a network; each pref names one thing it would try.
OFFLINE: dict[str, object] = {
    # Updates, of the browser, its add-ons, system add-ons, search engines, media plugins.
    "app.update.auto": False,
    "app.update.disabledForTesting": True,
    "app.update.checkInstallTime": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "extensions.systemAddon.update.url": "",
    "extensions.webservice.discoverURL": "",
    "browser.search.update": False,
    "browser.region.update.enabled": False,
    "browser.region.network.url": "",
    "media.gmp-manager.url": "",
    "media.gmp-manager.chromium-update-url": "",
    "media.gmp-widevinecdm.allow-chromium-update": False,
    "media.gmp-gmpopenh264.enabled": False,
    "media.gmp-widevinecdm.enabled": False,
    "media.eme.enabled": False,
    # Telemetry and pings.
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.usage.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.archive.enabled": False,
    "toolkit.telemetry.server": "",
    "toolkit.telemetry.shutdownPingSender.enabled": False,
    "toolkit.telemetry.newProfilePing.enabled": False,
    "toolkit.telemetry.firstShutdownPing.enabled": False,
    "toolkit.telemetry.updatePing.enabled": False,
    "toolkit.telemetry.bhrPing.enabled": False,
    "browser.ping-centre.telemetry": False,
    "browser.newtabpage.activity-stream.telemetry": False,
    "browser.newtabpage.activity-stream.feeds.telemetry": False,
    # Studies and experiments (Normandy, Nimbus) and everything else fed by remote settings.
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "app.shield.optoutstudies.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "services.settings.server": "data:,#remote-settings-dummy/v1",
    "security.remote_settings.crlite_filters.enabled": False,
    "security.remote_settings.intermediates.enabled": False,
    "browser.translations.enable": False,
    "browser.ml.enable": False,
    "browser.ml.chat.enabled": False,
    # Captive portal and connectivity checks.
    "network.captive-portal-service.enabled": False,
    "captivedetect.canonicalURL": "",
    "network.connectivity-service.enabled": False,
    # Safe Browsing lists and lookups.
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.downloads.remote.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.provider.google.updateURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "",
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    # Push, accounts, geolocation, certificate status.
    "dom.push.enabled": False,
    "dom.push.connection.enabled": False,
    "dom.push.serverURL": "",
    "identity.fxaccounts.enabled": False,
    "geo.enabled": False,
    "geo.provider.network.url": "",
    "security.OCSP.enabled": 0,
    "security.certerrors.mitm.priming.enabled": False,
    # DNS over HTTPS off by choice, and no guessing ahead (prefetch, speculative connections).
    "network.trr.mode": 5,
    "network.dns.disableIPv6": True,  # the tip line binds 127.0.0.1 only
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.predictor.enabled": False,
    "network.http.speculative-parallel-limit": 0,
    "browser.urlbar.speculativeConnect.enabled": False,
    "browser.places.speculativeConnect.enabled": False,
    # The start and new tab pages, and what they would fetch.
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.startup.homepage_override.mstone": "ignore",
    "startup.homepage_welcome_url": "about:blank",
    "startup.homepage_welcome_url.additional": "",
    "browser.aboutwelcome.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.newtabpage.activity-stream.feeds.section.topstories": False,
    "browser.newtabpage.activity-stream.feeds.system.topstories": False,
    "browser.newtabpage.activity-stream.showSponsored": False,
    "browser.newtabpage.activity-stream.showSponsoredTopSites": False,
    "browser.topsites.contile.enabled": False,
    "browser.discovery.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "signon.management.page.breach-alerts.enabled": False,
    "browser.backup.enabled": False,
    # A crash is a test failure, never a restored session or safe mode.
    "browser.sessionstore.resume_from_crash": False,
    "toolkit.startup.max_resumed_crashes": -1,
    # Marionette picks a free port and writes it to MarionetteActivePort in the profile.
    "marionette.port": 0,
}


def marionette_driver() -> ModuleType:
    """The marionette_driver package (ImportError if missing), imported without its noise.

    Importing it imports mozrunner and mozinfo, which warn of Python APIs they still use
    (telnetlib, distro.linux_distribution); the harness uses neither.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import marionette_driver.marionette
        import marionette_driver.wait

    return marionette_driver


def trap_prefs(port: int) -> dict[str, object]:
    """Every non-loopback request goes to the trap on PORT, never past it, never directly."""
    return {
        "network.proxy.type": 1,
        "network.proxy.http": "127.0.0.1",
        "network.proxy.http_port": port,
        "network.proxy.ssl": "127.0.0.1",
        "network.proxy.ssl_port": port,
        "network.proxy.socks_remote_dns": True,
        "network.proxy.no_proxies_on": "",
        "network.proxy.allow_hijacking_localhost": False,
        "network.proxy.failover_direct": False,
    }


class _TrapHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(4096).decode("latin-1").strip()
        self.server.asked.append(line or "(no request line)")  # type: ignore[attr-defined]
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class NetworkTrap(socketserver.ThreadingTCPServer):
    """A proxy on loopback that refuses every request and keeps its first line ("CONNECT host:443 ...")."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TrapHandler)
        self.asked: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def user_js(prefs: dict[str, object]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


@dataclass
class Firefox:
    """One firefox-esr process, in its own process group, and a Marionette session on it."""

    proc: subprocess.Popen
    client: Any  # marionette_driver.marionette.Marionette (imported only when a test runs)
    profile: Path
    prefs: dict[str, object]
    startup_seconds: float
    log_path: Path
    closed: bool = field(default=False)

    def close(self) -> None:
        """End the session, then the whole process group (Firefox forks content processes)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):  # the group is killed next either way
            self.client.delete_session(send_request=False)  # type: ignore[attr-defined]
        _kill_group(self.proc, signal.SIGTERM)
        # A content process may outlive the parent for a moment: SIGKILL takes the rest of the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def group_gone(self, timeout: float = 10) -> bool:
        """Whether no process of the browser's group is left (killed ones are reaped by init)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    """SIG to PROC's whole process group, then reap PROC (SIGKILL after 10 s if SIG did not end it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def launch(work: Path, trap: NetworkTrap, extra: dict[str, object] | None = None) -> Firefox:
    """Start firefox-esr headless at Safer on a fresh profile in WORK and open a Marionette session.

    HOME and the XDG folders point into WORK too, so the browser writes nothing of the user's
    (as root in CI, HOME may be /root or unset); MOZ_ variables keep away the crash reporter
    and the safe-mode prompt a killed run would otherwise bring on the next start.
    """
    Marionette = marionette_driver().marionette.Marionette

    profile = work / "profile"
    home = work / "home"
    profile.mkdir(parents=True)
    home.mkdir()
    prefs = {**SAFER, **OFFLINE, **trap_prefs(trap.port), **(extra or {})}
    (profile / "user.js").write_text(user_js(prefs))
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TMPDIR": str(work),
        "MOZ_HEADLESS": "1",
        "MOZ_CRASHREPORTER_DISABLE": "1",
        "MOZ_DISABLE_AUTO_SAFE_MODE": "1",
        "MOZ_NO_REMOTE": "1",
        # Necko refuses (and logs) any connection to an address that is not local; in a release
        # build it also lets services.settings.server point remote settings nowhere.
        "MOZ_DISABLE_NONLOCAL_CONNECTIONS": "1",
    }
    # System access lets a test read the prefs back in the chrome context (the pref audit).
    argv = [FIREFOX, "--headless", "--marionette", "-remote-allow-system-access", "--no-remote"]
    log_path = work / "firefox.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*argv, "-profile", str(profile)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    port_file = profile / "MarionetteActivePort"
    deadline = started + STARTUP_TIMEOUT
    try:
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None:
                raise RuntimeError(f"firefox-esr exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"firefox-esr did not start Marionette: {log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        port = int(port_file.read_text().strip())
        client = Marionette(host="127.0.0.1", port=port, startup_timeout=STARTUP_TIMEOUT)
        client.start_session(timeout=STARTUP_TIMEOUT)
    except BaseException:
        _kill_group(proc, signal.SIGKILL)
        raise
    return Firefox(proc, client, profile, prefs, time.monotonic() - started, log_path)

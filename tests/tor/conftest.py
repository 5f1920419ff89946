"""Fixtures for the private Tor network (see harness.py): one network per module, in a private namespace.

The module's main thread enters a fresh network namespace with only loopback
(`netns`), and everything started from it (tor, `tipline serve`, the browser
thread and its Chromium) lives there; nothing can reach the public network.
Without root, network namespaces, tor, Chromium or Playwright the tests skip,
except under CI=true, where they fail: CI must never pass by skipping them.
When a test fails, the tail of every tor and app log, and the logs' paths
(under pytest's tmp dir, kept after the run), are attached to its report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import missing, unavailable

from .harness import NetNamespace, TiplineOnTor, Unavailable, find_tools


@pytest.fixture(scope="module")
def netns() -> Iterator[NetNamespace]:
    ns = NetNamespace()
    try:
        ns.__enter__()
    except Unavailable as e:
        unavailable(f"no private network namespace for the Tor tests: {e}")
    try:
        yield ns
    finally:
        ns.__exit__()


@pytest.fixture(scope="module")
def tor_site(netns, tmp_path_factory, keydir) -> Iterator[TiplineOnTor]:
    """deploy/torrc's onion services on a private Tor network, the two apps behind them, two clients."""
    try:
        find_tools()
    except Unavailable as e:
        unavailable(str(e))
    site = TiplineOnTor(tmp_path_factory.mktemp("tor"), keydir / "journalist.pub")
    try:
        site.start()
    except Exception as e:
        report = site.log_report()
        site.stop()
        pytest.fail(f"the private Tor network did not come up: {e}\n\n{report}", pytrace=False)
    t = site.timings
    print(
        f"\nprivate Tor network in {site.base}: consensus after {t.consensus_s:.1f} s, source page "
        f"after {t.source_s:.1f} s, journalist page after {t.journalist_s:.1f} s"
    )
    try:
        yield site
    finally:
        site.stop()


class BrowserThread:
    """Playwright and Chromium in a thread of their own, with the client tor as SOCKS5 proxy.

    Playwright's sync API allows one instance per thread, and the browser tests'
    session-wide instance may hold the main thread. The thread is made while the
    main thread is in the private namespace, so it (and the Chromium it starts)
    is there too. `call(fn, *args)` runs fn in that thread and returns its result."""

    def __init__(self, socks_port: int) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="chromium-over-tor")
        self.socks_port = socks_port
        self._pw: Any = None
        self.browser: Any = None
        try:
            self.call(self._start)
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        args = [
            *CHROMIUM_ARGS,
            # socks5:// in Chromium resolves names through the proxy: the .onion goes to Tor.
            f"--proxy-server=socks5://127.0.0.1:{self.socks_port}",
            # and Chromium itself never looks a name up.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        ]
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=args)

    def call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return self._pool.submit(fn, *args, **kw).result(timeout=600)

    def close(self) -> None:
        def stop() -> None:
            if self.browser is not None:
                self.browser.close()
            if self._pw is not None:
                self._pw.stop()

        try:
            self.call(stop)
        finally:
            self._pool.shutdown()


@pytest.fixture(scope="module")
def browser(tor_site) -> Iterator[BrowserThread]:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("Playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        missing("chromium")
    b = BrowserThread(tor_site.client.socks_port)
    try:
        yield b
    finally:
        b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    site = getattr(item, "funcargs", {}).get("tor_site")
    if report.failed and isinstance(site, TiplineOnTor):
        paths = "\n".join(str(p) for p in site.log_paths())
        report.sections.append(("tor and app logs", f"{paths}\n\n{site.log_report()}"))
    return report

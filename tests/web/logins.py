"""Helpers for the journalist-login tests: enrolment by the real CLI, CSRF pairs, parallel requests."""

from __future__ import annotations

import http.client
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pyotp

from tests.conftest import run_tipline
from tests.web.server import Server

PASSPHRASE = "orbit velvet canyon maple ticket frozen lantern"
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def enrol(data_dir: Path, name: str, work: Path) -> tuple[str, pyotp.TOTP, str]:
    """`tipline journalist add`, as an admin runs it: the name, its TOTP, and the secret it printed."""
    pw = work / f"{name}.pw"
    pw.write_text(PASSPHRASE + "\n")
    out = run_tipline("journalist", "add", name, "--data-dir", str(data_dir), "--passphrase-file", str(pw))
    uri = next(line for line in out.stdout.splitlines() if line.startswith("otpauth://"))
    totp = pyotp.parse_uri(uri)
    return name, totp, totp.secret


def csrf_pair(srv: Server, path: str, cookie: str | None = None) -> tuple[str, str]:
    """(cookie, token) as a new visitor to `path` gets them, or the token for a given cookie."""
    headers = {"Cookie": f"tipline_csrf={cookie}"} if cookie else {}
    r = srv.request("GET", path, headers=headers, cookies=False)
    if cookie is None:
        cookie = next(
            c.split(";", 1)[0].split("=", 1)[1]
            for c in r.headers.get_all("Set-Cookie") or []
            if c.startswith("tipline_csrf=")
        )
    return cookie, TOKEN.search(r.body.decode()).group(1)


def post(srv: Server, path: str, fields: dict, cookies: dict, headers: dict | None = None):
    """A form POST with exactly these cookies (none of the server object's own)."""
    h = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        **(headers or {}),
    }
    return srv.request("POST", path, body=urlencode(fields, doseq=True).encode(), headers=h, cookies=False)


def parallel_logins(srv: Server, fields: list[dict]) -> list[tuple[int, str | None]]:
    """POST /login once per entry, all released at the same instant: (status, Retry-After) each."""
    cookie, token = csrf_pair(srv, "/login")
    barrier = threading.Barrier(len(fields))

    def one(f: dict) -> tuple[int, str | None]:
        body = urlencode({"csrf_token": token, **f}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=300)
        conn.connect()
        barrier.wait()
        conn.request(
            "POST",
            "/login",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"tipline_csrf={cookie}"},
        )
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status, r.getheader("Retry-After")

    with ThreadPoolExecutor(len(fields)) as pool:
        return list(pool.map(one, fields))


def statuses(results: list[tuple[int, str | None]]) -> Counter:
    return Counter(status for status, _ in results)

"""CSRF and Origin on both apps, over real HTTP: each token is bound to its cookie, and rotates at login.

These would pass against a token that is one fixed value per install, or
a journalist app without its Origin check, if they only checked that a
token is present: so each also shows the same request passing when the
one thing wrong is put right.
"""

from __future__ import annotations

import re

import pytest

from tests.web.logins import PASSPHRASE, csrf_pair, enrol, post
from tests.web.server import Server, free_port, make_server

FOREIGN = {"Origin": "http://evil.example"}


@pytest.fixture(scope="module")
def apps(tmp_path_factory, keydir):
    base = tmp_path_factory.mktemp("csrf")
    source = make_server(base, keydir / "journalist.pub").start()
    journalist = Server(source.data_dir, source.tmp_dir, base / "j.log", free_port()).start(
        "--app", "journalist"
    )
    yield source, journalist
    source.stop()
    journalist.stop()


def new_cookie(resp) -> str | None:
    for c in resp.headers.get_all("Set-Cookie") or []:
        if c.startswith("tipline_csrf="):
            return c.split(";", 1)[0].split("=", 1)[1]
    return None


def logged_in(journalist: Server, tmp_path, name: str) -> dict:
    """Log in through the form; the cookies a browser would then hold."""
    _, totp, _ = enrol(journalist.data_dir, name, tmp_path)
    cookie, token = csrf_pair(journalist, "/login")
    fields = {"csrf_token": token, "name": name, "passphrase": PASSPHRASE, "code": totp.now()}
    r = post(journalist, "/login", fields, {"tipline_csrf": cookie})
    assert r.status == 303
    session = next(c for c in r.headers.get_all("Set-Cookie") if c.startswith("tipline-session="))
    return {
        "tipline_csrf": new_cookie(r) or cookie,
        "tipline-session": session.split(";")[0].split("=", 1)[1],
    }


@pytest.mark.parametrize(("app", "path"), [(0, "/"), (1, "/login")])
def test_each_cookie_has_its_own_token(apps, app, path):
    srv = apps[app]
    (c1, t1), (c2, t2) = csrf_pair(srv, path), csrf_pair(srv, path)
    assert c1 != c2 and t1 != t2
    assert csrf_pair(srv, path, cookie=c1)[1] == t1  # the token follows from the cookie
    action, fields = ("/submit", {"message": "hi"}) if app == 0 else ("/login", {"name": "x", "code": "1"})
    assert post(srv, action, {**fields, "csrf_token": t1}, {"tipline_csrf": c2}).status == 403
    assert post(srv, action, {**fields, "csrf_token": t1}, {"tipline_csrf": c1}).status in (200, 303, 401)


def test_foreign_origin_refused_on_every_journalist_post(apps, tmp_path):
    _, journalist = apps
    cookie, token = csrf_pair(journalist, "/login")
    login = {"csrf_token": token, "name": "x", "passphrase": "y", "code": "1"}
    assert post(journalist, "/login", login, {"tipline_csrf": cookie}, FOREIGN).status == 403
    assert post(journalist, "/login", login, {"tipline_csrf": cookie}).status == 401
    jar = logged_in(journalist, tmp_path, "origin")
    page = journalist.request("GET", "/", headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.body.decode()).group(1)
    own = {"Origin": f"http://127.0.0.1:{journalist.port}"}
    for path, fields in [
        ("/download", {"which": "new"}),
        ("/delete", {"id": "0" * 32}),
        ("/delete/confirmed", {"id": "0" * 32, "confirm": "yes"}),
    ]:
        assert post(journalist, path, {**fields, "csrf_token": token}, jar, FOREIGN).status == 403, path
        assert post(journalist, path, {**fields, "csrf_token": token}, jar, own).status in (200, 400), path


def test_csrf_cookie_is_rotated_at_login(apps, tmp_path):
    _, journalist = apps
    _, totp, _ = enrol(journalist.data_dir, "rotate", tmp_path)
    planted, old_token = csrf_pair(journalist, "/login")  # e.g. fixed by someone before the login
    fields = {"csrf_token": old_token, "name": "rotate", "passphrase": PASSPHRASE, "code": totp.now()}
    r = post(journalist, "/login", fields, {"tipline_csrf": planted})
    assert r.status == 303
    fresh = new_cookie(r)
    assert fresh and fresh != planted
    session = next(c for c in r.headers.get_all("Set-Cookie") if c.startswith("tipline-session="))
    jar = {"tipline_csrf": fresh, "tipline-session": session.split(";")[0].split("=", 1)[1]}
    # The token from before the login no longer goes with the browser's cookie ...
    assert post(journalist, "/logout", {"csrf_token": old_token}, jar).status == 403
    # ... the page's new one does.
    page = journalist.request("GET", "/", headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.body.decode()).group(1)
    assert token != old_token
    assert post(journalist, "/logout", {"csrf_token": token}, jar).status == 303

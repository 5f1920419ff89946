"""Every page a source can see, fetched over HTTP in a given language, for the language tests.

Each entry of PAGES gets one page at the language prefix it is given ("/es");
a page that is not there yet (a route a colleague is still adding) is listed in OPTIONAL and
left out until its English address answers. To cover a new page, add a function here.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.web.conversations import CODENAME, TOKEN, add_reply
from tests.web.server import Response, Server
from tipline.format import codename

LANGS = ("en", "es", "ar")
# The server these pages come from takes at most this much (`tipline serve --max-upload-mb`).
MAX_UPLOAD_MB = 1


@dataclass
class Visit:
    """A source's browser on one server: its cookies, and the key a newsroom replies with."""

    srv: Server
    keydir: Path

    def fresh(self) -> Server:
        """Start as a new visitor: no CSRF cookie, no session."""
        self.srv.cookies.clear()
        return self.srv

    def token(self, path: str) -> str:
        return TOKEN.search(self.srv.get(path).body.decode()).group(1)

    def first_tip(self, at: str, message: str = "") -> Response:
        """A first tip with JavaScript off, from the form at `at` ("/es"; "" for plain English)."""
        srv = self.fresh()
        fields = [("csrf_token", self.token(f"{at}/")), ("message", message or secrets.token_hex(8))]
        return srv.post_form(fields, path=f"{at}/submit")

    def login(self, at: str, typed: str) -> Response:
        srv = self.fresh()
        tok = self.token(f"{at}/conversation")
        return srv.post_urlencoded(f"{at}/conversation", {"csrf_token": tok, "codename": typed})

    def logged_in(self, at: str, reply: str = "") -> Response:
        """A conversation with one reply, read with the codename and JavaScript off."""
        words = CODENAME.search(self.first_tip(at).body.decode()).group(1)
        add_reply(self.srv, self.keydir, words, reply or f"A reply from the newsroom {secrets.token_hex(4)}")
        return self.login(at, words)


def form(v: Visit, at: str) -> Response:
    return v.fresh().get(f"{at}/")


def login_page(v: Visit, at: str) -> Response:
    return v.fresh().get(f"{at}/conversation")


def conversation(v: Visit, at: str) -> Response:
    return v.logged_in(at)


def reply_deleted(v: Visit, at: str) -> Response:
    """The conversation page again, with JavaScript off, saying the reply was deleted."""
    body = v.logged_in(at).body.decode()
    reply_id = re.search(r'name="reply_id" value="([^"]+)"', body).group(1)
    fields = {"csrf_token": TOKEN.search(body).group(1), "reply_id": reply_id}
    return v.srv.post_urlencoded(f"{at}/conversation/delete", fields)


def codename_page(v: Visit, at: str) -> Response:
    return v.first_tip(at)


def thanks(v: Visit, at: str) -> Response:
    return v.fresh().get(f"{at}/thanks")


def left(v: Visit, at: str) -> Response:
    tok = v.token(f"{at}/conversation")
    return v.srv.post_urlencoded(f"{at}/conversation/leave", {"csrf_token": tok})


def not_found(v: Visit, at: str) -> Response:
    return v.fresh().get(f"{at}/no-such-page")


def not_allowed(v: Visit, at: str) -> Response:
    return v.fresh().get(f"{at}/submit")


def too_large(v: Visit, at: str) -> Response:
    """Over the limit by a little: refused by the intake as it reads the file."""
    tok = v.token(f"{at}/")
    big = b"\0" * (MAX_UPLOAD_MB * 1024 * 1024 + 10)
    return v.srv.post_form([("csrf_token", tok)], [("files", "big.bin", big, "x/y")], path=f"{at}/submit")


def far_too_large(v: Visit, at: str) -> Response:
    """Over the limit by far: refused from its Content-Length alone, before the body is read."""
    tok = v.token(f"{at}/")
    huge = b"\0" * (3 * MAX_UPLOAD_MB * 1024 * 1024)
    return v.srv.post_form([("csrf_token", tok)], [("files", "huge.bin", huge, "x/y")], path=f"{at}/submit")


def bad_token(v: Visit, at: str) -> Response:
    v.token(f"{at}/")  # a real CSRF cookie, with a token that does not match it
    return v.srv.post_form([("csrf_token", "0" * 64), ("message", "x")], path=f"{at}/submit")


def wrong_codename(v: Visit, at: str) -> Response:
    return v.login(at, codename.new_codename())


def guide(v: Visit, at: str) -> Response:
    return v.fresh().get(f"{at}/guide")


# name -> (how to get it, the status it answers with)
PAGES: dict[str, tuple[Callable[[Visit, str], Response], int]] = {
    "form": (form, 200),
    "conversation login": (login_page, 200),
    "conversation with a reply": (conversation, 200),
    "reply deleted": (reply_deleted, 200),
    "codename (JavaScript off)": (codename_page, 200),
    "thanks": (thanks, 200),
    "left": (left, 200),
    "404": (not_found, 404),
    "405 (GET of a form's address)": (not_allowed, 405),
    "413 from the intake": (too_large, 413),
    "413 from Content-Length": (far_too_large, 413),
    "403 bad CSRF token": (bad_token, 403),
    "wrong codename": (wrong_codename, 401),
    "guide": (guide, 200),
}
OPTIONAL = {"guide"}  # being added in parallel (issue 11, item 5)
# The one page without the language menu: its links would leave it, and the codename shows once.
NO_MENU = {"codename (JavaScript off)"}
# Pages that answer a POST or an error: their menu leads to the form, not back to them.
MENU_TO_FORM = {
    "codename (JavaScript off)",
    "conversation with a reply",
    "reply deleted",
    "left",
    "404",
    "405 (GET of a form's address)",
    "413 from the intake",
    "413 from Content-Length",
    "403 bad CSRF token",
    "wrong codename",
}
# The address of a GET page, without its language prefix, which its menu links keep.
GET_PATHS = {"form": "/", "conversation login": "/conversation", "thanks": "/thanks", "guide": "/guide"}


def prefix(lang: str) -> str:
    return "/" + lang


def fetch(v: Visit, name: str, lang: str) -> Response:
    get, status = PAGES[name]
    r = get(v, prefix(lang))
    assert r.status == status, f"{name} in {lang}: {r.status} {r.body[:300]!r}"
    return r


def present(v: Visit) -> list[str]:
    """The pages this build has: every one, but an optional one whose English address is a 404."""
    return [n for n in PAGES if n not in OPTIONAL or PAGES[n][0](v, prefix("en")).status != 404]

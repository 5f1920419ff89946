"""The "Download all new" button takes the new submissions the filtered list shows, and marks only those.

Held against the bundle itself: its manifest, read by the offline tool's own reader
(tipline.format.manifest), names exactly the submissions expected.
"""

from __future__ import annotations

import io
import re
import tarfile

from tests.web.newsroom import Newsroom, token_of
from tests.web.server import Server
from tests.web.status_http import journalist, post_star, post_status
from tipline.format.manifest import parse_manifest

ROW = re.compile(r'<tr class="submission" data-submission-id="([^"]+)"')


def bundle_ids(body: bytes) -> list[str]:
    """The submissions a downloaded bundle holds, from its manifest."""
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        manifest = t.extractfile("manifest.json")
        assert manifest is not None
        return [e.id for e in parse_manifest(manifest.read())]


def download_new(j: Server, query: str = "", extra: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Press "Download all new" on the list at `query`, with the fields that page's form carries."""
    page = j.get("/" + query).body.decode()
    fields = dict(re.findall(r'<input type="hidden" name="(status|starred)" value="([^"]*)">', page))
    r = j.post_urlencoded(
        "/download", {"csrf_token": token_of(j, "/"), "which": "new"} | fields | (extra or {})
    )
    return r.status, bundle_ids(r.body) if r.status == 200 else []


def mine(room: Newsroom, name: str) -> set[str]:
    """Every submission `name` has downloaded, as the store says."""
    return {s.id for s in room.convs.store.list() if name in s.downloads}


def check_download_follows_filter(room: Newsroom) -> None:
    a = journalist(room)
    cids = {n: room.open_conversation(n)[0] for n in ("d-new", "d-work", "d-work-star", "d-done-star")}
    assert post_status(a, cids["d-work"], "in_progress").status == 303
    assert post_status(a, cids["d-work-star"], "in_progress").status == 303
    assert post_star(a, cids["d-work-star"], "1").status == 303
    assert post_status(a, cids["d-done-star"], "done").status == 303
    assert post_star(a, cids["d-done-star"], "1").status == 303
    lone_tip = room.convs.store.begin("server", [room.newsroom_key], 1 << 20, 10)
    lone_tip.add_message("a tip from before conversations")
    lone = lone_tip.commit()
    sub = {n: next(s.id for s in room.convs.store.list() if s.conversation_id == c) for n, c in cids.items()}

    # One of the in-progress ones is downloaded already, chosen by hand.
    r = a.post_urlencoded("/download", {"csrf_token": token_of(a, "/"), "id": sub["d-work"]})
    assert r.status == 200 and bundle_ids(r.body) == [sub["d-work"]]
    assert mine(room, a.name) == {sub["d-work"]}

    page = a.get("/?status=in_progress").body.decode()
    assert ">Download all new in this view</button>" in page
    assert '<input type="hidden" name="status" value="in_progress">' in page
    shown = ROW.findall(page)
    assert sub["d-work"] in shown and sub["d-work-star"] in shown and lone not in shown
    status, got = download_new(a, "?status=in_progress")
    assert status == 200 and sorted(got) == sorted(set(shown) - {sub["d-work"]})
    assert sub["d-work-star"] in got and not {sub["d-new"], sub["d-done-star"], lone} & set(got)
    assert mine(room, a.name) == {sub["d-work"]} | set(got)  # only those are marked
    r = a.post_urlencoded(
        "/download", {"csrf_token": token_of(a, "/"), "which": "new", "status": "in_progress"}
    )
    assert r.status == 400 and b"Nothing this view lists is new to you." in r.body

    # A bad filter in the form is refused, and marks nothing.
    before = mine(room, a.name)
    status, _ = download_new(a, extra={"status": "bogus"})
    assert status == 400 and mine(room, a.name) == before

    status, got = download_new(a, "?starred=1")
    starred_new = set(ROW.findall(a.get("/?starred=1").body.decode())) - before
    assert status == 200 and set(got) == starred_new and sub["d-done-star"] in got
    assert sub["d-new"] not in got and lone not in got

    page = a.get("/").body.decode()
    assert ">Download all new</button>" in page and 'type="hidden" name="status"' not in page
    everything = {s.id for s in room.convs.store.list()}
    done = mine(room, a.name)
    status, got = download_new(a)  # no filter: every new one, lone tips too
    assert status == 200 and set(got) == everything - done and {sub["d-new"], lone} <= set(got)
    assert mine(room, a.name) == everything
    room.convs.store.delete([lone])

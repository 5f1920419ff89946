"""What the journalists' pages show of a conversation's status (docs/newsroom-workflow.md).

The list's filter (a plain GET form: /?status=in_progress&starred=1), each
conversation's status, star and who has seen it, and the mark that opening a
conversation leaves. The source app never imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import abort, current_app, g, request
from flask_babel import gettext

from tipline.store.status import LABELS, STATUSES, Status, StatusStore, UnknownConversation, UnknownStatus

from .grouping import Group


def statuses() -> StatusStore:
    return StatusStore(current_app.extensions["tipline"].store.sessions)


def status_names() -> dict[str, str]:
    """Each status and its name in the page's language, in the order the menus list them."""
    return {code: gettext(LABELS[code]) for code in STATUSES}


@dataclass(frozen=True)
class ListFilter:
    status: str  # "" for every status
    starred: bool

    @property
    def active(self) -> bool:
        return bool(self.status) or self.starred

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> ListFilter:
        """From the filter form's query; an unknown status is refused (UnknownStatus), never ignored."""
        status = args.get("status", "")
        if status and status not in STATUSES:
            raise UnknownStatus
        return cls(status, args.get("starred", "") == "1")

    def keeps(self, st: Status) -> bool:
        return (not self.status or st.status == self.status) and (not self.starred or st.starred)


@dataclass(frozen=True)
class ListStatus:
    """The list page's statuses: each conversation's, the filter, and the groups it keeps (in order)."""

    of: Mapping[str, Status]
    names: Mapping[str, str]
    wanted: ListFilter
    groups: list[Group]
    total: int  # conversations before the filter


def list_status(listed: list[Group], args: Mapping[str, str]) -> ListStatus:
    """Filter the list (newest activity first, as it came) by the filter's fields. One query for all.

    The list passes its query; "Download all new" passes its form, which carries the same fields,
    so the bundle holds what the view showed.
    """
    wanted = ListFilter.parse(args)
    of = statuses().for_list(grp.conversation.id for grp in listed if grp.conversation)
    # Submissions from before conversations have no status: a filter leaves them out.
    shown = [
        grp
        for grp in listed
        if not wanted.active or (grp.conversation and wanted.keeps(of[grp.conversation.id]))
    ]
    return ListStatus(of, status_names(), wanted, shown, len(of))


@dataclass(frozen=True)
class PageStatus:
    now: Status
    names: Mapping[str, str]
    saved: bool  # back from a status or star change


def page_status(cid: str) -> PageStatus:
    return PageStatus(statuses().get(cid), status_names(), request.args.get("saved") == "1")


def mark_seen(cid: str) -> None:
    """Opening the conversation page: seen by this journalist (and new becomes read); 404 if unknown."""
    try:
        statuses().mark_seen(cid, g.journalist)
    except UnknownConversation:
        abort(404)

"""The sentences reply.js shows, from the journalist catalog, rendered as the reply form's data- attributes.

Made here rather than in the template because the template's gettext treats a
translation as markup: a translator's `"` would end the attribute. These are
plain strings, which the template escapes whole. Placeholders are %(name)s.
"""

from __future__ import annotations

from flask_babel import gettext as _


def reply_strings(limit: str) -> dict[str, str]:
    """data-<key> for each state and refusal of the reply box; `limit` is the largest reply, in bytes."""
    return {
        "note-loading": _("Your browser is getting ready to encrypt your reply before it is sent."),
        "note-ready": _(
            "Your browser will encrypt your reply before it is sent: "
            "the server gets only the encrypted reply."
        ),
        "note-failed": _(
            "Your browser could not load this page's encryption script. If you send the reply, the server "
            "will encrypt it in memory the moment it arrives and keep only the encrypted reply. Reloading "
            "the page may fix this."
        ),
        "msg-wait": _(
            "Your browser is still getting ready to encrypt your reply. Nothing was sent: press Send reply "
            "again in a moment."
        ),
        "msg-empty": _("The reply is empty. Nothing was sent: write the reply, then send it."),
        "msg-too-long": _(
            "This reply is longer than the %(limit)s bytes a reply may be. Nothing was sent: shorten it, or "
            "split it over two replies.",
            limit=limit,
        ),
        "msg-encrypting": _("Encrypting your reply in this browser."),
        "msg-sending": _("Sending the encrypted reply."),
        "msg-seal-failed": _(
            "Your reply could not be encrypted in this browser, so nothing was sent. Reload the page and "
            "try again."
        ),
        "msg-lost": _(
            "The connection was lost before the reply arrived. It may not have been kept: reload the page "
            "to see whether it is in the thread."
        ),
    }

"""The sentences the source pages' scripts show, from the same catalogs as the pages.

The page renders them into a JSON data block (`<script type="application/json">`,
which the CSP does not execute); strings.js reads it. Placeholders are
%(name)s, as in the catalogs, and strings.js fills them. No sentence is built
from fragments, so each translates whole.
"""

from __future__ import annotations

from flask_babel import gettext as _


def browser_strings() -> dict[str, str]:
    """Every string the source scripts may show, translated into the page's language."""
    return {
        # submit.js: the note next to Send, in each state
        "note.server": _(
            "Your tip will be encrypted on our server the moment it arrives, before it is stored."
        ),
        "note.loading": _(
            "Your browser is getting ready to encrypt your tip before it is sent. "
            "Over Tor this can take a minute."
        ),
        "note.ready": _(
            "Your browser will encrypt your tip before it is sent, so that only our journalists can read it."
        ),
        "note.failed": _(
            "Your browser could not load this page's encryption script, so it cannot encrypt your tip "
            "itself. If you send it, it will be encrypted on our server the moment it arrives, before it "
            "is stored. Reloading the page may fix this."
        ),
        "queued": _(
            "Your tip will be encrypted and sent as soon as your browser is ready. "
            "If you would rather not wait, you can send it now to be encrypted on our server instead."
        ),
        "not_sent": _(
            "Your tip was not sent. Press Send securely again to send it to be encrypted on our server."
        ),
        "making": _("Making your codename"),
        "empty": _("Please write a message or attach a file before sending."),
        "too_many": _(
            # count is always 2 or more; translators may phrase it without a plural
            "You attached %(count)s files; this tip line takes at most %(max)s in one tip. "
            "Send the others in another tip."
        ),
        "too_big": _(
            "Your files add up to %(size)s MB; this tip line takes at most %(max)s MB in one tip. "
            "Send fewer or smaller files, or split them over several tips."
        ),
        "a_file": _("a file"),
        "your_message": _("your message"),  # as in "Encrypting your message (1 of 2)"
        # submit.js and upload.js: a tip sent in parts while it is sealed (docs/uploads.md)
        "uploading": _("Encrypting and sending %(name)s (%(n)s of %(total)s)"),
        "eta": _("About %(minutes)s min left"),
        "progress": _("%(what)s: %(percent)s%%"),
        "retrying": _("Connection lost. Retrying in %(seconds)s s."),
        "busy": _("The tip line is busy. Retrying in %(seconds)s s."),
        "resuming": _("Resuming: %(size)s MB had already arrived"),
        "committing": _("Checking that everything arrived"),
        "sent": _("Sent"),
        "stopped": _("Sending stopped. Your tip was not sent."),
        "expired": _("Your tip took too long to arrive and was not kept. Please send it again."),
        "refused": _(
            "The tip line could not take your tip (error %(status)s). Nothing was kept. Please try again."
        ),
        # The server's own sentences for these (tipline/web/app.py), for an answer without one.
        "session_ended": _(
            "Your session for this page ran out or was not accepted. "
            "Nothing was kept. Reload the page, then send again."
        ),
        "too_large": _(
            "What you sent is larger than this tip line accepts. Nothing was kept. "
            "Send fewer or smaller files, or split them over several tips."
        ),
        "not_sealed": _(
            "Your tip could not be encrypted in this browser, so nothing was sent. "
            "Check that the files are still there, reload the page and try again."
        ),
        # conversation.js
        "opening": _("Opening your conversation. This can take a few seconds."),
        "still_loading": _(
            "Your browser is still getting ready. Your conversation will open as soon as it is."
        ),
        "conversation_lost": _("The connection was lost. Nothing was changed. Please try again."),
        "no_answer": _("The tip line could not answer (error %(status)s). Please try again."),
        "unreadable": _("This reply could not be opened. It may be damaged."),
        "deleted": _("The reply was deleted. The newsroom will see that you deleted it, but not when."),
    }

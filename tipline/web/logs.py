"""What the apps write to the log: the kind and place of an error, never what a request carried.

Flask's own error logging quotes the request path and prints a traceback, so a
path with an encoded newline (%0a) could write lines of its choosing into the
log, and an exception's text could quote what a source sent. Here every error
becomes one line: its type and the line of code where it happened.
"""

from __future__ import annotations

import logging
from types import TracebackType

from flask import Flask


def where(e: BaseException) -> str:
    """The innermost file:line of an exception's traceback: code, not data."""
    tb: TracebackType | None = e.__traceback__
    while tb and tb.tb_next:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"


def log_unexpected(logger: logging.Logger, e: BaseException) -> None:
    """Log an unexpected error without its message (it could quote the request) or a traceback."""
    logger.error("unexpected %s at %s", type(e).__name__, where(e))


class NoTracebacks(logging.Filter):
    """Turn a record's traceback into the exception's type and place, whoever logged it.

    Flask itself logs with exc_info in places an app cannot hook (a failure
    while finishing an error response); this keeps those to one fixed line too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            record.msg = f"{record.getMessage()} ({type(exc).__name__} at {where(exc)})"
            record.args = ()
        record.exc_info = record.exc_text = record.stack_info = None
        return True


class TiplineFlask(Flask):
    """Flask, logging errors without the request path (see the module docstring)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.logger.addFilter(NoTracebacks())

    def log_exception(
        self, exc_info: tuple[type, BaseException, TracebackType] | tuple[None, None, None]
    ) -> None:
        if exc_info[1] is not None:
            log_unexpected(self.logger, exc_info[1])

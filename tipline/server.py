"""Run an app under gunicorn with Tipline's settings, from `tipline serve`.

gthread workers: a slow Tor client uploading for an hour holds one thread,
not a whole worker, and the worker keeps answering its heartbeat. There is
no access log at all, so no address or user agent is ever written, and the
error log never quotes a request (QuietLogger). Responses carry neither
gunicorn's Server header nor a Date header (Worker).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.workers.gthread import ThreadWorker

from tipline.config import Settings
from tipline.web.digest import HOUR, HourlyDigest


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    # gunicorn makes the logger from its class alone, in this (the master) process, and the
    # workers fork from it: the class is where the hold period can reach the logger.
    QuietLogger.hold_s = settings.log_hold_s
    return {
        "bind": [settings.bind],
        "workers": settings.workers,
        "worker_class": "tipline.server.Worker",
        "threads": 8,
        # Worker liveness, not request length: gthread workers heartbeat
        # while a thread waits on a slow upload.
        "timeout": 60,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "logger_class": "tipline.server.QuietLogger",
        "loglevel": "info",
        "limit_request_line": 4094,
        "limit_request_fields": 60,
        "limit_request_field_size": 8190,
        "proc_name": "tipline",
        "forwarded_allow_ips": "",
        "proxy_allow_ips": "",
        # gunicorn 24+ opens a control socket under $HOME; Tipline needs none.
        "control_socket_disable": True,
    }


class QuietResponse(gunicorn_wsgi.Response):
    """gunicorn's response without its Server and Date headers.

    Server names the software; Date gives the server's clock to the second,
    and a clock's skew helps tell one onion service's host from another. Rounding
    Date would not help: a client polling across the hour sees the exact moment
    it changes. Responses are never cached (Cache-Control: no-store), so no
    client needs a Date.
    """

    def default_headers(self) -> list[str]:
        return [h for h in super().default_headers() if not h.lower().startswith(("server:", "date:"))]

    def process_headers(self, headers: list[tuple[str, str]]) -> None:
        # gunicorn drops an app's Connection header (hop-by-hop) and would read the rest of an
        # unread body before the next request; "close" from the app means what it says (a part
        # of 16 MiB refused at once, a crawling body): the connection ends after this answer.
        if any(n.lower() == "connection" and v.strip().lower() == "close" for n, v in headers):
            self.force_close()
        super().process_headers(headers)


class Worker(ThreadWorker):
    """gunicorn's gthread worker, answering with QuietResponse."""

    def init_process(self) -> None:
        # gunicorn builds each response as `Response(...)` in gunicorn.http.wsgi and has no
        # setting for the class; this worker process is ours alone, so it sets its own.
        gunicorn_wsgi.Response = QuietResponse  # type: ignore[misc]
        super().init_process()


# gunicorn's messages that quote a request (the client's address, the offending request line or
# header, the method and URI), each with the fixed line written instead.
REQUEST_MESSAGES = (
    ("Invalid request from", "A malformed request was refused."),
    ("Error handling request", "A request failed with an unexpected error."),
    ("Socket error processing request", "A connection failed with an unexpected error."),
    ("WSGI app sent body bytes", "A response body was dropped: the response may not have one."),
)


class NoRequestData(logging.Filter):
    """Replace gunicorn's request-quoting messages (and their tracebacks) by fixed lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        for prefix, fixed in REQUEST_MESSAGES:
            if text.startswith(prefix):
                exc = record.exc_info[1] if record.exc_info else None
                record.msg = f"{fixed} ({type(exc).__name__})" if exc else fixed
                record.args = ()
                record.exc_info = record.exc_text = record.stack_info = None
        return True


_NO_REQUEST_DATA = NoRequestData()
_FIXED_LINES = tuple(fixed for _prefix, fixed in REQUEST_MESSAGES)


def _from_a_request(record: logging.LogRecord) -> bool:
    """Whether a gunicorn record is one of the fixed lines a request causes (after NoRequestData)."""
    return str(record.msg).startswith(_FIXED_LINES)


class QuietLogger(glogging.Logger):
    """gunicorn's logger, writing nothing a client sent.

    At level info gunicorn still logs a malformed request at WARNING with the
    client's address and the bad text, and an error that escapes the app with
    its method, URI and traceback: a request could write into the log.
    """

    hold_s = HOUR  # set by gunicorn_options from the settings (log_hold_s)

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)  # again on every reopen: addFilter keeps one of each
        self.error_log.addFilter(_NO_REQUEST_DATA)
        logging.getLogger("gunicorn.http.wsgi").addFilter(_NO_REQUEST_DATA)  # its own module logger
        # A request's fixed line is counted and written at the end of the hour (tipline/web/digest.py);
        # gunicorn's own lines (start, workers, signals) are written at once.
        self.error_log.handlers = [
            h if isinstance(h, HourlyDigest) else HourlyDigest(h, self.hold_s, _from_a_request)
            for h in self.error_log.handlers
        ]


M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas before the workers fork.

    Each gthread worker's threads otherwise get arenas of their own, and
    large upload buffers fragment them: bench/soak.py saw worker memory
    climb ~128 MiB/hour with the default cap and ~16 MiB/hour with 2.
    The same as MALLOC_ARENA_MAX=2, applied from inside; a no-op off glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc after all
        ctypes.CDLL(name).mallopt(M_ARENA_MAX, arenas)


class TiplineServer(BaseApplication):
    def __init__(
        self, factory: Callable[[Settings], Flask], settings: Settings, extra: dict[str, Any] | None = None
    ) -> None:
        self._factory = factory
        self._settings = settings
        self._options = {**gunicorn_options(settings), **(extra or {})}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:  # older gunicorns lack some settings
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._factory(self._settings)

    def run(self) -> None:
        limit_malloc_arenas()  # in the master, so every forked worker inherits it
        super().run()

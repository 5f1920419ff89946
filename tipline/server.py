"""Run an app under gunicorn with Tipline's settings, from `tipline serve`.

gthread workers: a slow Tor client uploading for an hour holds one thread,
not a whole worker, and the worker keeps answering its heartbeat. There is
no access log at all, so no address or user agent is ever written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from tipline.config import Settings


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "bind": [settings.bind],
        "workers": settings.workers,
        "worker_class": "gthread",
        "threads": 8,
        # Worker liveness, not request length: gthread workers heartbeat
        # while a thread waits on a slow upload.
        "timeout": 60,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
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

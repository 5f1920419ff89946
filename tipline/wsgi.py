"""WSGI entry points for a gunicorn started from deploy/gunicorn.conf.py.

Settings come from TIPLINE_DATA_DIR, DATA_DIR/tipline.toml and TIPLINE_*
variables, as for `tipline serve`.
"""

from __future__ import annotations

from flask import Flask


def source() -> Flask:
    from tipline.config import load_settings
    from tipline.web.app import create_source_app

    return create_source_app(load_settings())


def journalist() -> Flask:
    from tipline.config import load_settings
    from tipline.web.app import create_journalist_app

    return create_journalist_app(load_settings())

"""gunicorn settings for Tipline: `gunicorn -c deploy/gunicorn.conf.py` (installed as /etc/tipline/).

Environment:
  TIPLINE_APP       source (default) or journalist: which app this process serves
  TIPLINE_DATA_DIR  the data folder (settings also come from DATA_DIR/tipline.toml)
  TIPLINE_BIND      127.0.0.1:PORT or unix:/path; anything else is refused
  (every other TIPLINE_* setting works too, as for `tipline serve`)

Every option comes from tipline.server.gunicorn_options(), the same function
`tipline serve` uses, so the two cannot drift apart. What those options are
and why:

- worker_class tipline.server.Worker, 8 threads per worker: gunicorn's
  gthread worker, whose responses carry no Server or Date header (the Date
  header gives the server's clock away). A source on Tor may take an hour to
  upload 500 MB; that holds one thread, not a whole worker, and the worker
  keeps answering the master's heartbeat meanwhile. Sync workers would
  be killed by `timeout` mid-upload; async workers need monkey-patching.
- timeout 60: worker liveness (heartbeat), not request length, with gthread.
  Request bodies that stall or crawl are cut off by tipline/web/slowbody.py
  (no byte for body_idle_s, or slower than body_min_rate after body_grace_s),
  because gunicorn itself never times out a body read.
- keepalive 5: Tor Browser reuses connections; idle ones are not kept long.
- limit_request_line 4094, limit_request_fields 60, limit_request_field_size
  8190: a request head cannot grow without bound; Tipline needs short URLs
  and few headers.
- accesslog None: no access log at all, so no address, user agent or time of
  a request is ever written. errorlog "-" (stderr, i.e. the journal) with
  level info, through tipline.server.QuietLogger: gunicorn logs a malformed
  request at WARNING with the client's address and the request's text, and
  an error escaping the app with its URI and a traceback; QuietLogger writes
  a fixed line instead, so nothing a client sent reaches the journal.
- forwarded_allow_ips / proxy_allow_ips "": no X-Forwarded-* header is trusted.
"""

import os
import sys

from tipline.config import ConfigError, load_settings, require_loopback_bind
from tipline.server import gunicorn_options, limit_malloc_arenas

_app = os.environ.get("TIPLINE_APP", "source")
if _app not in ("source", "journalist"):
    raise SystemExit(f"tipline: TIPLINE_APP is {_app!r}; use source or journalist.")
try:
    _settings = load_settings()
    require_loopback_bind(_settings.bind, "Set TIPLINE_BIND")
except ConfigError as e:
    raise SystemExit(f"tipline: {e}") from None
if _app == "source":  # the newsroom's page, logos read, as `tipline serve` checks it (docs/newsroom.md)
    from tipline.newsroom import NewsroomError
    from tipline.web.newsroom_page import load_newsroom

    try:
        load_newsroom(_settings)
    except NewsroomError as e:
        raise SystemExit(f"tipline: {e}") from None

# What the apps create is for their group and nobody else: the source app's user writes
# envelopes and database rows that the journalist app's user, in the same group, reads and
# deletes (docs/install.md, "Who can read what"). Private files are made 0600 explicitly.
os.umask(0o007)

globals().update(gunicorn_options(_settings))
wsgi_app = f"tipline.wsgi:{_app}()"


def on_starting(server):
    """Once, before the listening sockets and any worker (not on reload, when old workers may still
    be receiving): like `tipline serve`, refuse to run without a recipient key or on a schema of
    another version (docs/upgrades.md), and create the tables of a new database; then, in the
    source app only, remove what was never acknowledged."""
    from tipline.store.db import make_engine, make_sessions
    from tipline.store.keyring import Keyring, KeyringError
    from tipline.store.submissions import SubmissionStore

    try:
        if not Keyring(_settings.keys_dir).active():
            raise KeyringError(
                f"No recipient key in {_settings.keys_dir}, so tips could not be encrypted. Add one "
                f"first: tipline keys add --data-dir {_settings.data_dir} journalist.pub"
            )
    except KeyringError as e:
        print(f"tipline: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    limit_malloc_arenas()  # in the master, so the forked workers inherit it (see tipline/server.py)
    from tipline.cli_common import require_app_upgraded
    from tipline.store.models import AccountsBase
    from tipline.store.schema import SchemaError

    try:
        # Read only first: opening an old SQLite file to write would already change its journal mode.
        require_app_upgraded(_settings, _app)
        # Creates the tables of a new database before workers race to; refuses another schema.
        engine = make_engine(_settings.db_url, data_dir=_settings.data_dir)
        if _app == "journalist":  # the source app never opens the accounts: its unit cannot see them
            make_engine(_settings.accounts_db_url, AccountsBase.metadata, 0o600, _settings.data_dir).dispose()
    except SchemaError as e:  # older: tipline upgrade; newer: that version or a backup
        print(f"tipline: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    # Only the source app writes uploads. The journalist app must not recover: it would delete the
    # source app's uploads in flight, and a folder already renamed but not yet recorded.
    if _app == "source":
        removed = SubmissionStore(_settings.store_dir, make_sessions(engine)).recover()
        if removed:
            server.log.info("Removed %d unacknowledged partial upload(s) left by an earlier stop.", removed)
    engine.dispose()

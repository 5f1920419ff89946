"""Conversation status on PostgreSQL: the same checks as tests/web/test_status.py, a private server."""

from __future__ import annotations

from tests.postgres import new_database, pg_url  # noqa: F401 (a fixture)
from tests.web import status_checks, status_http
from tests.web.newsroom import start_newsroom


def test_conversation_status_on_postgres(pg_url, tmp_path, keydir):  # noqa: F811
    url = new_database(pg_url, "conversation_status")
    room = start_newsroom(tmp_path, keydir, f'database_url = "{url}"\n')
    try:
        assert not (room.data_dir / "tipline.sqlite3").exists()  # really on PostgreSQL
        assert status_http.db(room) == url
        status_checks.check_automatic_moves(room)
        status_checks.check_forms(room)
        status_checks.check_filters_and_order(room)
        status_checks.check_delete(room)
        status_checks.check_two_at_once(room, rounds=10)
        status_checks.check_source_sees_nothing(room)
    finally:
        room.stop()

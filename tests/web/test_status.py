"""Conversation status, star and who has seen it, over real HTTP on a real SQLite file.

Both apps run under gunicorn on one data folder (tests/web/newsroom.py); the checks, shared
with the PostgreSQL test, are in tests/web/status_checks.py.
"""

from __future__ import annotations

import pytest

from tests.web import filtered_download, status_checks
from tests.web.newsroom import start_newsroom


@pytest.fixture(scope="module")
def room(tmp_path_factory, keydir):
    nr = start_newsroom(tmp_path_factory.mktemp("status"), keydir)
    yield nr
    nr.stop()


def test_opening_replying_and_the_sources_follow_ups_move_the_status(room):
    status_checks.check_automatic_moves(room)


def test_status_and_star_are_set_by_csrf_checked_posts_and_bad_values_change_nothing(room):
    status_checks.check_forms(room)


def test_the_list_filters_by_status_and_star_newest_activity_first(room):
    status_checks.check_filters_and_order(room)


def test_deleting_a_conversation_deletes_its_status_and_who_saw_it(room):
    status_checks.check_delete(room)


def test_two_journalists_at_once_leave_one_consistent_row(room):
    status_checks.check_two_at_once(room)


def test_the_source_sees_nothing_of_the_status(room):
    status_checks.check_source_sees_nothing(room)


def test_download_all_new_takes_the_new_ones_the_filtered_list_shows(room):
    filtered_download.check_download_follows_filter(room)

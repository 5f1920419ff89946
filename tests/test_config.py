import pytest

from tipline.config import ConfigError, load_settings


def test_precedence_file_then_env_then_flags(tmp_path):
    (tmp_path / "tipline.toml").write_text('max_files = 7\nmax_upload_mb = 100\nbind = "127.0.0.1:9000"\n')
    env = {"TIPLINE_MAX_UPLOAD_MB": "200", "TIPLINE_BIND": "127.0.0.1:9001"}
    s = load_settings(tmp_path, environ=env, bind="127.0.0.1:9002")
    assert (s.max_files, s.max_upload_mb, s.bind) == (7, 200, "127.0.0.1:9002")
    assert s.db_url == f"sqlite:///{tmp_path.resolve() / 'tipline.sqlite3'}"


def test_data_dir_from_environment(tmp_path):
    s = load_settings(environ={"TIPLINE_DATA_DIR": str(tmp_path)})
    assert s.data_dir == tmp_path.resolve()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_files": 0}, "at least 1"),
        ({"onion_address": "example.com"}, "not a v3 onion"),
        ({"bind": "localhost"}, "should look like"),
        ({"max_upload_mb": "lots"}, "whole number"),
        ({"max_logins_in_flight": 0}, "at least 1"),
        ({"source_session_minutes": 0}, "at least 1"),
        ({"source_session_max_minutes": 29}, "at least source_session_minutes"),
        ({"pending_upload_hours": 0}, "pending_upload_hours and max_pending_uploads must be at least 1"),
        ({"max_pending_uploads": 0}, "pending_upload_hours and max_pending_uploads must be at least 1"),
        ({"max_pending_mb": -1}, "max_pending_mb"),
        ({"max_upload_mb": 100, "max_pending_mb": 100}, "room for one whole tip: at least 113"),
    ],
)
def test_bad_settings_say_what_to_fix(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path, environ={}, **kwargs)


def test_pending_uploads_defaults(tmp_path):
    s = load_settings(tmp_path, environ={}, max_upload_mb=10)
    assert (s.pending_upload_hours, s.max_pending_uploads) == (24, 200)
    assert s.max_pending_bytes == 40 * 1024 * 1024  # 4 x max_upload_mb unless set
    s = load_settings(tmp_path, environ={"TIPLINE_MAX_PENDING_MB": "50"}, max_upload_mb=10)
    assert s.max_pending_bytes == 50 * 1024 * 1024
    assert s.max_sealed_bytes == 10 * 1024 * 1024 * 112 // 100 + 21 * 8192


def test_unknown_setting_in_file(tmp_path):
    (tmp_path / "tipline.toml").write_text("max_fils = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'max_fils'"):
        load_settings(tmp_path, environ={})


def test_no_data_dir():
    with pytest.raises(ConfigError, match="--data-dir"):
        load_settings(environ={})


def test_accounts_have_their_own_database_and_folders(tmp_path):
    s = load_settings(tmp_path, environ={})
    root = tmp_path.resolve()
    assert s.accounts_db_url == f"sqlite:///{root / 'journalist' / 'accounts.db'}" != s.db_url
    assert (s.source_private_dir, s.journalist_private_dir) == (root / "source", root / "journalist")
    assert s.totp_key_path == root / "journalist" / "totp.key"
    env = {"TIPLINE_ACCOUNTS_DATABASE_URL": "postgresql+psycopg://j@/accounts"}
    assert load_settings(tmp_path, environ=env).accounts_db_url == "postgresql+psycopg://j@/accounts"

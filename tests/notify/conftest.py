"""Fixtures for the notification tests: test CAs, an installation folder, rows at chosen hours."""

from __future__ import annotations

import io
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.notify.servers import CA, PASSWORD, USER
from tipline.config import Settings, load_settings
from tipline.notify.run import run
from tipline.notify.state import load, state_path
from tipline.store.db import make_engine, make_sessions
from tipline.store.models import Conversation, Submission

# 09:30 UTC on a Tuesday: the daily period of 1 December, due at 08:00, is due.
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def ca() -> CA:
    return CA.new("Tipline test CA")


@pytest.fixture(scope="session")
def other_ca() -> CA:
    return CA.new("Some other CA")


@pytest.fixture
def short_dir():
    """A short folder for unix sockets (their paths are limited to about 100 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="tn-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@dataclass
class Install:
    data_dir: Path
    ca: CA

    @property
    def settings(self) -> Settings:
        return load_settings(self.data_dir, environ={})

    def configure(self, toml: str) -> Install:
        (self.data_dir / "tipline.toml").write_text(toml)
        return self

    def run(self, now: datetime = NOW, **kw) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run(self.settings, now, out=out, err=err, **kw)
        return code, out.getvalue(), err.getvalue()

    def state(self):
        return load(state_path(self.settings))

    def tip(self, hour: str, conversation: str | None = None) -> str:
        """A submission row received in `hour`, as the intake would leave it (sizes are never sent)."""
        sid = secrets.token_urlsafe(16)
        with make_sessions(make_engine(self.settings.db_url)).begin() as s:
            s.add(
                Submission(
                    id=sid,
                    received_hour=hour,
                    sealed_by="server",
                    item_count=1,
                    total_size=4096,
                    sealed_to="ab" * 16,
                    conversation_id=conversation,
                )
            )
        return sid

    def conversation(self, hour: str) -> str:
        """A conversation opened in `hour`, with its first tip."""
        cid = secrets.token_urlsafe(16)
        with make_sessions(make_engine(self.settings.db_url)).begin() as s:
            s.add(
                Conversation(
                    id=cid,
                    source_public_key="00" * 32,
                    verifier_hash=secrets.token_hex(32),
                    kdf_version=1,
                    created_hour=hour,
                    last_activity_hour=hour,
                )
            )
        self.tip(hour, cid)
        return cid


@pytest.fixture
def install(tmp_path, ca) -> Install:
    data = tmp_path / "data"
    data.mkdir()
    ca.write(data / "ca.pem")
    creds = data / "smtp-credentials"
    creds.write_text(f"{USER}\n{PASSWORD}\n")
    creds.chmod(0o600)
    return Install(data, ca)


def smtp_toml(port: int, security: str = "starttls", notify: str = "", creds: bool = True) -> str:
    return f"""
[notify]
route = "direct"
hour = 8
{notify}
[notify.smtp]
host = "localhost"
port = {port}
security = "{security}"
from = "tipline@example.org"
to = ["desk@example.org"]
{'credentials_file = "smtp-credentials"' if creds else ""}
ca_file = "ca.pem"
"""

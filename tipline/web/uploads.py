"""Multipart parsing that streams each file straight into an envelope.

Werkzeug would spool a large upload to a temporary file in plaintext; here
each file part goes to the current intake instead, which seals it as it
arrives (no JavaScript) or keeps the browser's envelope as it is.
"""

from __future__ import annotations

from typing import IO

from flask import Request
from werkzeug.exceptions import BadRequest
from werkzeug.formparser import FormDataParser

from tipline.format.shorten import file_metadata
from tipline.store.submissions import Intake


class UploadRequest(Request):
    """A request whose file parts can only go into an intake, never to disk as plaintext."""

    intake: Intake | None = None
    sealed_by: str = "server"

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self.intake is None:
            raise BadRequest("This address takes no uploads.")
        if self.sealed_by == "browser":
            return self.intake.browser_item()  # type: ignore[return-value]
        # Shortened so the metadata always fits: a long name must not cost the source the tip.
        meta = file_metadata(filename or "", content_type or "")
        return self.intake.server_item(meta)  # type: ignore[return-value]

    def make_form_data_parser(self) -> FormDataParser:
        # silent=False: a broken or cut-off body must fail loudly, not yield
        # a partial form that would be stored as if whole.
        return self.form_data_parser_class(
            stream_factory=self._get_file_stream,
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
            silent=False,
        )

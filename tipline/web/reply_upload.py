"""Request bodies of the journalist app: no file ever goes through Werkzeug's spooling.

Werkzeug hands each file part of a multipart form to a stream factory that
spools anything over 500 KB to a temporary file. The journalist app takes
only one kind of file, a reply envelope, and reads it here straight from the
request as it arrives (EnvelopeUpload): the store checks and writes it as it
goes. Every other form refuses file parts outright (JournalistRequest), so a
reply typed with JavaScript off, a form field, stays in memory.
"""

from __future__ import annotations

import contextlib
from typing import IO, BinaryIO

from flask import Request
from werkzeug.exceptions import BadRequest
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder

CHUNK = 1 << 16
MAX_FIELD = 4096  # the fields before the file: a CSRF token, nothing more
MAX_PARTS = 8


class JournalistRequest(Request):
    """A request whose form can hold fields only: a file part is refused, never spooled."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        raise BadRequest("This address takes no files.")


class EnvelopeUpload:
    """A multipart body read as it arrives: the small fields first, then one file part, as a stream.

    fields_then_file() reads the fields up to the first file part; read() then
    gives that part's bytes (b"" at its end) to whoever keeps them.
    """

    def __init__(self, request: Request) -> None:
        mimetype, options = parse_options_header(request.content_type or "")
        if mimetype != "multipart/form-data" or not options.get("boundary"):
            raise BadRequest("not a multipart form")
        self._stream = request.stream
        # The decoder's bound is on its buffer, which each event empties: room for two reads.
        self._decoder = MultipartDecoder(
            options["boundary"].encode("latin-1"), 2 * CHUNK, max_parts=MAX_PARTS
        )
        self.fields: dict[str, str] = {}
        self.file_field = ""
        self.filename = ""
        self._in_file = False
        self._buffer = b""

    def _next(self):
        while True:
            try:
                event = self._decoder.next_event()
            except ValueError:  # Werkzeug's word for a malformed or cut-off body
                raise BadRequest("malformed form data") from None
            if event is not NEED_DATA:
                return event
            chunk = self._stream.read(CHUNK)
            self._decoder.receive_data(chunk or None)  # None: the body has ended

    def fields_then_file(self) -> None:
        """Read every field before the first file part (BadRequest if there is no file part)."""
        name: str | None = None
        value = bytearray()
        while True:
            event = self._next()
            if isinstance(event, Field):
                name, value = event.name, bytearray()
            elif isinstance(event, Data) and name is not None:
                value += event.data
                if len(value) > MAX_FIELD:
                    raise BadRequest("a field is too long")
                if not event.more_data:
                    self.fields[name] = value.decode("utf-8", "replace")
                    name = None
            elif isinstance(event, File):
                self.file_field, self.filename, self._in_file = event.name, event.filename or "", True
                return
            elif isinstance(event, Epilogue):
                raise BadRequest("no file part")

    def read(self, size: int = -1) -> bytes:
        """The file part's next bytes, at most `size`; b"" once it has ended."""
        while not self._buffer and self._in_file:
            event = self._next()
            if isinstance(event, Data):
                self._buffer += event.data
                self._in_file = event.more_data
            elif isinstance(event, Epilogue):
                raise BadRequest("the file part did not end")
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def drain(stream: BinaryIO) -> None:
    """Read what is left of a refused body (at most MAX_CONTENT_LENGTH), so the answer gets through.

    Closing a socket with unread bytes makes the kernel reset the connection,
    and the browser would show that instead of the page that says why.
    """
    with contextlib.suppress(Exception):  # the client went: there is nobody left to answer
        while stream.read(CHUNK):
            pass

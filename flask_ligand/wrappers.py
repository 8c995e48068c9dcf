"""The request class of every flask-ligand app: a body sent in chunks is held to ``MAX_CONTENT_LENGTH``.

A body with a ``Content-Length`` over the limit is refused before it is read. One sent in chunks has no length to
check, and werkzeug stops reading it at the limit without an error, so the first MiB would pass for the whole body
(``get_data``, ``get_json`` and webargs' JSON). Here reading it whole raises the same 413 when more follows.
"""

from __future__ import annotations

from typing import IO

import flask
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream


class _BoundedStream(LimitedStream):
    """werkzeug's stream for a body of unknown length, whose ``readall`` raises 413 when the body goes on."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(stream, limit, is_max=True)
        self._source = stream

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted and self._source.read(1):
            self.on_exhausted()  # a maximum's: RequestEntityTooLarge
        return data


class Request(flask.Request):
    """Flask's request, whose stream raises 413 on a chunked body over ``MAX_CONTENT_LENGTH`` (see the module)."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if limit is None or self.content_length is not None or "wsgi.input_terminated" not in self.environ:
            stream: IO[bytes] = super().stream
            return stream
        return _BoundedStream(self.environ["wsgi.input"], limit)  # type: ignore[return-value]
